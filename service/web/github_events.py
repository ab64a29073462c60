"""Turn a verified GitHub webhook into a typed event; the only module that reads raw payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.domain.events import (
    CommentCreated,
    Event,
    Ignored,
    InstallationChanged,
    IssueLabeled,
    WorkflowJobCompleted,
    WorkflowRunCompleted,
)
from service.domain.names import is_repository

INSTALLATION_EVENTS = ("installation", "installation_repositories", "installation_target")
_MAX_BODY_CHARS = 65_536


class _Malformed(Exception):
    """The payload lacks a field ccs needs, or has it with the wrong type."""


def parse_event(event_name: str, delivery: str, payload: dict, *,
                own_login: str | None = None) -> Event:
    """Return the typed event for one delivery; anything unhandled or malformed is Ignored."""
    if not isinstance(payload, dict):
        return Ignored(delivery, event_name, "payload is not a JSON object")
    action = payload.get("action")
    key = f"{event_name}.{action}" if isinstance(action, str) else event_name
    parser = _PARSERS.get(key) or _PARSERS.get(event_name)
    if parser is None:
        return Ignored(delivery, key, f"ccs does not handle {key} events")
    try:
        return parser(delivery, payload, own_login)
    except _Malformed as error:
        return Ignored(delivery, key, f"malformed payload: {error}")


def _comment_created(delivery: str, payload: dict, own_login: str | None) -> Event:
    comment, issue = _obj(payload, "comment"), _obj(payload, "issue")
    user = _obj(comment, "user", "comment.user")
    author = _str(user, "login", "comment.user.login")
    author_type = _str(user, "type", "comment.user.type")
    if author_type == "Bot" or author.lower().endswith("[bot]"):
        return Ignored(delivery, "issue_comment.created", f"comment by bot {author}")
    if own_login and author.lower() == own_login.lower():
        return Ignored(delivery, "issue_comment.created", "comment by ccs itself")
    body = comment.get("body") or ""
    if not isinstance(body, str):
        raise _Malformed("comment.body is not a string")
    return CommentCreated(
        delivery=delivery,
        repository=_repository(payload),
        installation_id=_installation_id(payload),
        issue_number=_int(issue, "number", "issue.number"),
        comment_id=_int(comment, "id", "comment.id"),
        # Commands sit in the first lines; an enormous body is not worth scanning whole.
        body=body[:_MAX_BODY_CHARS],
        author=author,
        author_type=author_type,
        author_association=_optional_str(comment, "author_association") or "NONE",
        is_pull_request=issue.get("pull_request") is not None,
    )


def _issue_labeled(delivery: str, payload: dict, own_login: str | None) -> Event:
    label, sender = _obj(payload, "label"), _obj(payload, "sender")
    sender_login = _str(sender, "login", "sender.login")
    if own_login and sender_login.lower() == own_login.lower():
        return Ignored(delivery, "issues.labeled", "label added by ccs itself")
    return IssueLabeled(
        delivery=delivery,
        repository=_repository(payload),
        installation_id=_installation_id(payload),
        issue_number=_int(_obj(payload, "issue"), "number", "issue.number"),
        label=_str(label, "name", "label.name"),
        sender=sender_login,
        sender_type=_optional_str(sender, "type") or "User",
    )


def _workflow_job_completed(delivery: str, payload: dict, own_login: str | None) -> Event:
    job = _obj(payload, "workflow_job")
    return WorkflowJobCompleted(
        delivery=delivery,
        repository=_repository(payload),
        installation_id=_installation_id(payload),
        run_id=_int(job, "run_id", "workflow_job.run_id"),
        job_id=_int(job, "id", "workflow_job.id"),
        job_name=_optional_str(job, "name") or "",
        conclusion=_optional_str(job, "conclusion"),
        html_url=_optional_str(job, "html_url"),
        run_attempt=_optional_int(job, "run_attempt") or 1,
        workflow_name=_optional_str(job, "workflow_name"),
        head_branch=_optional_str(job, "head_branch"),
    )


def _workflow_run_completed(delivery: str, payload: dict, own_login: str | None) -> Event:
    run = _obj(payload, "workflow_run")
    return WorkflowRunCompleted(
        delivery=delivery,
        repository=_repository(payload),
        installation_id=_installation_id(payload),
        run_id=_int(run, "id", "workflow_run.id"),
        conclusion=_optional_str(run, "conclusion"),
        html_url=_optional_str(run, "html_url"),
        name=_optional_str(run, "name"),
        display_title=_optional_str(run, "display_title"),
        run_attempt=_optional_int(run, "run_attempt") or 1,
        event=_optional_str(run, "event"),
        path=_optional_str(run, "path"),
    )


def _installation_changed(delivery: str, payload: dict, own_login: str | None) -> Event:
    installation = _obj(payload, "installation")
    account = installation.get("account")
    login = _optional_str(account, "login") if isinstance(account, dict) else None
    action = _optional_str(payload, "action") or "changed"
    added = payload.get("repositories_added", payload.get("repositories"))
    return InstallationChanged(
        delivery=delivery,
        installation_id=_int(installation, "id", "installation.id"),
        account=login,
        action=action,
        repositories=_repo_names(added, "repositories"),
        repositories_removed=_repo_names(payload.get("repositories_removed"),
                                         "repositories_removed"),
    )


_Parser = Callable[[str, dict, "str | None"], Event]
_PARSERS: dict[str, _Parser] = {
    "issue_comment.created": _comment_created,
    "issues.labeled": _issue_labeled,
    "workflow_job.completed": _workflow_job_completed,
    "workflow_run.completed": _workflow_run_completed,
    **{name: _installation_changed for name in INSTALLATION_EVENTS},
}


def _repository(payload: dict) -> str:
    repository = _obj(payload, "repository")
    name = _str(repository, "full_name", "repository.full_name")
    if not is_repository(name):
        raise _Malformed("repository.full_name is not owner/name")
    return name


def _installation_id(payload: dict) -> int | None:
    installation = payload.get("installation")
    if installation is None:
        return None  # deliveries from a plain repository webhook (token mode) have none
    if not isinstance(installation, dict):
        raise _Malformed("installation is not an object")
    return _int(installation, "id", "installation.id")


def _repo_names(items: Any, where: str) -> tuple[str, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _Malformed(f"{where} is not a list")
    return tuple(_str(item, "full_name", f"{where}[].full_name") for item in items
                 if isinstance(item, dict))


def _obj(parent: dict, key: str, where: str | None = None) -> dict:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _Malformed(f"{where or key} is missing or not an object")
    return value


def _str(parent: dict, key: str, where: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{where} is missing or not a string")
    return value


def _int(parent: dict, key: str, where: str) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where} is missing or not an integer")
    return value


def _optional_str(parent: dict, key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) else None


def _optional_int(parent: dict, key: str) -> int | None:
    value = parent.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
