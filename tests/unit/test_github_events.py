"""Webhook payloads become typed events; real recorded payloads from tests/data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from service.domain.events import (
    CommentCreated,
    Ignored,
    InstallationChanged,
    IssueLabeled,
    WorkflowJobCompleted,
    WorkflowRunCompleted,
)
from service.web.github_events import parse_event

DATA = Path(__file__).resolve().parents[1] / "data"


def load(name: str) -> dict[str, Any]:
    """Return a fresh copy of a recorded payload."""
    return copy.deepcopy(json.loads((DATA / f"{name}.json").read_text()))


@pytest.mark.parametrize("index", range(5))
def test_every_recorded_comment_parses(index: int) -> None:
    event = parse_event("issue_comment", "d1", load(f"issue_comment.created.{index}"))
    assert isinstance(event, CommentCreated)
    assert event.repository == "Codertocat/Hello-World"
    assert event.author == "Codertocat" and event.author_type == "User"


def test_comment_fields() -> None:
    payload = load("issue_comment.created.3")
    payload["comment"]["body"] = "/ccs implement accounts"
    event = parse_event("issue_comment", "delivery-1", payload)
    assert event == CommentCreated(
        delivery="delivery-1",
        repository="Codertocat/Hello-World",
        installation_id=1,
        issue_number=payload["issue"]["number"],
        comment_id=492700400,
        body="/ccs implement accounts",
        author="Codertocat",
        author_type="User",
        author_association="OWNER",
        is_pull_request=False,
    )


def test_comment_without_installation_has_none() -> None:
    event = parse_event("issue_comment", "d", load("issue_comment.created.0"))
    assert isinstance(event, CommentCreated) and event.installation_id is None


def test_comment_on_a_pull_request() -> None:
    payload = load("issue_comment.created.0")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    event = parse_event("issue_comment", "d", payload)
    assert isinstance(event, CommentCreated) and event.is_pull_request


@pytest.mark.parametrize(
    ("login", "kind"),
    [("ccs-app[bot]", "User"), ("renovate", "Bot"), ("github-actions[bot]", "Bot")],
)
def test_comments_by_bots_are_ignored(login: str, kind: str) -> None:
    payload = load("issue_comment.created.0")
    payload["comment"]["user"].update(login=login, type=kind)
    event = parse_event("issue_comment", "d", payload)
    assert isinstance(event, Ignored) and "bot" in event.reason


def test_comments_by_ccs_itself_are_ignored() -> None:
    event = parse_event("issue_comment", "d", load("issue_comment.created.0"),
                        own_login="codertocat")
    assert isinstance(event, Ignored) and "ccs itself" in event.reason


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_and_deleted_comments_are_ignored(action: str) -> None:
    payload = load("issue_comment.created.0")
    payload["action"] = action
    event = parse_event("issue_comment", "d", payload)
    assert event == Ignored("d", f"issue_comment.{action}",
                            f"ccs does not handle issue_comment.{action} events")


@pytest.mark.parametrize("index", [9, 10])
def test_label_added(index: int) -> None:
    event = parse_event("issues", "d", load(f"issues.labeled.{index}"))
    assert event == IssueLabeled(delivery="d", repository="Codertocat/Hello-World",
                                 installation_id=None, issue_number=1, label="bug",
                                 sender="Codertocat", sender_type="User")


def test_label_added_by_ccs_itself_is_ignored() -> None:
    event = parse_event("issues", "d", load("issues.labeled.9"), own_login="Codertocat")
    assert isinstance(event, Ignored)


def test_other_issue_actions_are_ignored() -> None:
    payload = load("issues.labeled.9")
    payload["action"] = "unlabeled"
    assert isinstance(parse_event("issues", "d", payload), Ignored)


@pytest.mark.parametrize(("index", "conclusion"), [(1, "failure"), (2, "success")])
def test_workflow_job_completed(index: int, conclusion: str) -> None:
    event = parse_event("workflow_job", "d", load(f"workflow_job.completed.{index}"))
    assert isinstance(event, WorkflowJobCompleted)
    assert (event.run_id, event.job_id, event.job_name) == (2202229078, 289782451, "linters")
    assert event.conclusion == conclusion
    assert event.html_url == "https://github.com/octo-org/octo-repo/runs/1291536064"
    assert event.run_attempt == 1 and event.workflow_name == "CodeQL"


def test_workflow_run_completed() -> None:
    event = parse_event("workflow_run", "d", load("workflow_run.completed.1"))
    assert isinstance(event, WorkflowRunCompleted)
    assert event.repository == "octo-org/octo-repo"
    assert (event.run_id, event.conclusion) == (289782451, "success")
    assert event.display_title.startswith("ci(action)")  # type: ignore[union-attr]
    assert event.path == ".github/workflows/test.yml"


def test_workflow_run_with_null_conclusion_still_parses() -> None:
    event = parse_event("workflow_run", "d", load("workflow_run.completed.0"))
    assert isinstance(event, WorkflowRunCompleted) and event.conclusion is None


@pytest.mark.parametrize("index", range(4))
def test_ping_is_ignored(index: int) -> None:
    event = parse_event("ping", "d", load(f"ping.event.{index}"))
    assert isinstance(event, Ignored) and event.event == "ping"


def test_unknown_events_are_ignored() -> None:
    assert isinstance(parse_event("push", "d", {"ref": "refs/heads/main"}), Ignored)
    assert isinstance(parse_event("workflow_job", "d", {"action": "queued"}), Ignored)


def test_installation_created() -> None:
    payload = {
        "action": "created",
        "installation": {"id": 42, "account": {"login": "octo-org"}},
        "repositories": [{"full_name": "octo-org/a"}, {"full_name": "octo-org/b"}],
    }
    assert parse_event("installation", "d", payload) == InstallationChanged(
        delivery="d", installation_id=42, account="octo-org", action="created",
        repositories=("octo-org/a", "octo-org/b"))


def test_installation_repositories_changed() -> None:
    payload = {
        "action": "removed",
        "installation": {"id": 42, "account": {"login": "octo-org"}},
        "repositories_added": [],
        "repositories_removed": [{"full_name": "octo-org/a"}],
    }
    event = parse_event("installation_repositories", "d", payload)
    assert isinstance(event, InstallationChanged)
    assert event.repositories == () and event.repositories_removed == ("octo-org/a",)


def broken(name: str, mutate: Any) -> dict[str, Any]:
    """Return a recorded payload after `mutate` broke it."""
    payload = load(name)
    mutate(payload)
    return payload


@pytest.mark.parametrize(
    ("event_name", "payload"),
    [
        ("issue_comment", broken("issue_comment.created.0", lambda p: p.pop("repository"))),
        ("issue_comment", broken("issue_comment.created.0", lambda p: p.pop("comment"))),
        ("issue_comment",
         broken("issue_comment.created.0", lambda p: p["comment"].update(id="492700400"))),
        ("issue_comment",
         broken("issue_comment.created.0", lambda p: p["comment"].update(body=["x"]))),
        ("issue_comment", broken("issue_comment.created.0", lambda p: p["issue"].pop("number"))),
        ("issue_comment",
         broken("issue_comment.created.0", lambda p: p["repository"].update(full_name="x"))),
        ("issue_comment", broken("issue_comment.created.3", lambda p: p.update(installation=1))),
        ("issues", broken("issues.labeled.9", lambda p: p["label"].pop("name"))),
        ("workflow_job",
         broken("workflow_job.completed.1", lambda p: p["workflow_job"].update(run_id=True))),
        ("workflow_run", broken("workflow_run.completed.1", lambda p: p.update(workflow_run=[]))),
        ("installation", {"action": "created", "installation": {"id": "x"}}),
        ("installation", {"action": "created", "installation": {"id": 1}, "repositories": {}}),
    ],
)
def test_malformed_payloads_are_ignored_with_a_reason(event_name: str, payload: Any) -> None:
    event = parse_event(event_name, "d", payload)
    assert isinstance(event, Ignored)
    assert event.reason.startswith("malformed payload:")


def test_non_object_payload_is_ignored() -> None:
    assert isinstance(parse_event("issue_comment", "d", [1, 2]), Ignored)  # type: ignore[arg-type]
