"""Handlers: what each typed event and command does, against the fake runtime."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from service.domain.events import CommentCreated, Ignored, InstallationChanged, IssueLabeled
from service.worker.handlers import Handlers, event_from_json, event_to_json, quoted
from tests.fakes.service_runtime import REPO, ServiceStage


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    stage = ServiceStage.create(tmp_path)
    stage.github.permissions["alice"] = "write"
    return stage


def handlers(stage: ServiceStage) -> Handlers:
    services = stage.app.extensions["ccs"]["services"]
    return Handlers(services.config, services.store, services.runtime)


_DELIVERIES = itertools.count(1)


def comment(body: str, author: str = "alice", issue: int = 7) -> CommentCreated:
    """Return a comment event; each is a delivery of its own, as GitHub sends them."""
    return CommentCreated(delivery=f"d{next(_DELIVERIES)}", repository=REPO, installation_id=5,
                          issue_number=issue, comment_id=99, body=body, author=author,
                          author_type="User", author_association="MEMBER",
                          is_pull_request=False)


def test_events_survive_the_queue_as_json() -> None:
    for event in (comment("/ccs help"),
                  InstallationChanged("d", 1, "octo", "added", ("a/b",), ("c/d",)),
                  Ignored("d", "ping", "ping")):
        assert event_from_json(event_to_json(event)) == event


def test_a_redriven_delivery_replies_once(stage: ServiceStage) -> None:
    # After a crash between posting a reply and marking the delivery done, the re-driven
    # delivery posted the same reply again (fault matrix, "reply").
    run = handlers(stage)
    event = comment("/ccs status")
    run.handle(event)
    run.handle(event)
    assert len(stage.github.replies) == 1


def test_quoted_quotes_every_line() -> None:
    assert quoted("one\ntwo") == "> one\n> two"


def test_implement_then_status_retry_and_cancel_by_issue(stage: ServiceStage) -> None:
    run = handlers(stage)
    run.handle(comment("/ccs implement catalog money --base main"))
    (session,) = stage.store.sessions_for_issue(REPO, 7)
    assert session.requested_components == ["money"] and session.installation_id == 5
    assert stage.runtime.asked[-1] == (REPO, 5)
    run.handle(comment("/ccs status"))
    assert session.id in stage.github.replies[-1][1]
    run.handle(comment("/ccs retry"))
    assert "still running" in stage.github.replies[-1][1]
    run.handle(comment("/ccs cancel"))
    assert stage.store.session(session.id).status == "cancelled"
    run.handle(comment(f"/ccs retry {session.id}"))
    assert stage.store.session(session.id).status == "running"
    assert stage.store.session(session.id).round == 2


def test_lookups_are_scoped_to_the_repository(stage: ServiceStage) -> None:
    session = stage.project.start(repository="other/repo", context="catalog",
                                               base="main", issue=7)
    handlers(stage).handle(comment(f"/ccs cancel {session.id}"))
    assert stage.store.session(session.id).status == "running"
    assert "no session" in stage.github.replies[-1][1]


def test_several_commands_get_one_reply(stage: ServiceStage) -> None:
    handlers(stage).handle(comment("/ccs status\n/ccs help"))
    assert len(stage.github.replies) == 1
    assert "no ccs session yet" in stage.github.replies[0][1]


def test_label_from_a_reader_is_refused(stage: ServiceStage) -> None:
    stage.github.permissions["bob"] = "triage"
    handlers(stage).handle(IssueLabeled("d", REPO, 5, 7, "ccs:catalog", "bob", "User"))
    assert stage.store.sessions(REPO) == []
    assert "write access" in stage.github.replies[-1][1]


def test_installation_repositories_are_added_and_removed(stage: ServiceStage) -> None:
    run = handlers(stage)
    run.handle(InstallationChanged("d", 3, "octo", "created", ("o/a", "o/b")))
    run.handle(InstallationChanged("d", 3, None, "removed", (), ("o/a",)))
    run.handle(InstallationChanged("d", 3, None, "suspend"))
    from service.adapters.db.models import InstallationRow

    with stage.store.unit() as db:
        row = db.get(InstallationRow, 3)
        assert (row.account, row.repositories, row.active, row.status) == (
            "octo", ["o/b"], False, "suspended")
