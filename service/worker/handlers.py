"""What each typed event and command does in service mode (run by queue tasks)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.db.store import NotFound, Store
from service.config import Config
from service.config.log_format import bind_log_context
from service.domain import events as ev
from service.domain.commands import (
    HELP_TEXT,
    CancelSession,
    Command,
    RecordChildResult,
    RetrySession,
    ShowHelp,
    ShowStatus,
    StartSession,
    context_from_label,
    parse_comment,
)
from service.domain.installations import state_after
from service.domain.states import ChildKind
from service.domain.wire import ChildResult, TestCounts
from service.orchestrator.bus import MessageBus
from service.orchestrator.errors import BadInput

log = logging.getLogger(__name__)
WRITE_PERMISSIONS = ("admin", "maintain", "write")
_EVENT_TYPES = {cls.__name__: cls for cls in (
    ev.CommentCreated, ev.IssueLabeled, ev.WorkflowJobCompleted, ev.WorkflowRunCompleted,
    ev.InstallationChanged, ev.Ignored)}


class RepoGitHub(Protocol):
    """The GitHub calls the handlers make for one repository."""

    def default_branch(self) -> str: ...
    def permission(self, login: str) -> str: ...
    def add_reaction(self, comment_id: int, content: str = "eyes") -> None: ...
    def reply(self, issue_number: int, body: str, key: str | None = None) -> int: ...
    def run_jobs(self, run_id: int) -> list[dict[str, Any]]: ...


class Runtime(Protocol):
    """Builds the per-repository bus and GitHub client (bootstrap.GitHubRuntime)."""

    def bus(self, repository: str, installation_id: int | None) -> MessageBus: ...
    def github(self, repository: str, installation_id: int | None) -> RepoGitHub: ...


def event_to_json(event: ev.Event) -> dict[str, Any]:
    """Return a typed event as plain JSON-able data (for queue task arguments)."""
    return {"type": type(event).__name__, "fields": dataclasses.asdict(event)}


def event_from_json(data: dict[str, Any]) -> ev.Event:
    """Rebuild a typed event from event_to_json's output."""
    cls = _EVENT_TYPES[data["type"]]
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data["fields"].items()}
    return cls(**fields)


def quoted(text: str) -> str:
    """Return `text` as a Markdown quote, so echoed messages never become markup."""
    return "\n".join("> " + line for line in str(text).splitlines() or [""])


class Handlers:
    """Turns events into orchestrator calls and short replies on the issue."""

    def __init__(self, config: Config, store: Store, runtime: Runtime) -> None:
        self.config, self.store, self.runtime = config, store, runtime

    def handle(self, event: ev.Event) -> None:
        """Do what one event asks; unknown or ignored events do nothing."""
        handler: Callable[[Any], None] | None = {
            ev.CommentCreated: self.on_comment, ev.IssueLabeled: self.on_label,
            ev.WorkflowJobCompleted: self.on_job_completed,
            ev.WorkflowRunCompleted: self.on_run_completed,
            ev.InstallationChanged: self.on_installation,
        }.get(type(event))
        if handler is not None:
            handler(event)

    # Comments and labels ------------------------------------------------------------

    def on_comment(self, event: ev.CommentCreated) -> None:
        """Run the comment's /ccs commands if its author may write to the repository."""
        lines = parse_comment(event.body, self.config.command_prefix)
        if not lines or self._refused(event.repository, event.installation_id):
            return
        github = self.runtime.github(event.repository, event.installation_id)
        if not self._may_write(github, event.author, event.issue_number, event.delivery):
            return
        github.add_reaction(event.comment_id, "eyes")
        replies = []
        for line in lines:
            command = line.to_command(repository=event.repository, issue=event.issue_number,
                                      requested_by=event.author, source="comment")
            if isinstance(command, StartSession):
                # One session per command line of a delivery, however often it is re-driven.
                command = dataclasses.replace(command, delivery=f"{event.delivery}:{line.line}")
            reply = self.run_command(command, event.installation_id, github)
            if reply:
                replies.append(reply)
        if replies:
            # One comment for all the commands: fewer notifications and API calls.
            github.reply(event.issue_number, "\n\n".join(replies), key=event.delivery)

    def on_label(self, event: ev.IssueLabeled) -> None:
        """Start a session when someone with write access adds `ccs:<context>`."""
        context = context_from_label(event.label)
        if context is None or self._refused(event.repository, event.installation_id):
            return
        github = self.runtime.github(event.repository, event.installation_id)
        if not self._may_write(github, event.sender, event.issue_number, event.delivery):
            return
        command = StartSession(repository=event.repository, context=context,
                               issue=event.issue_number, requested_by=event.sender,
                               source="label", delivery=event.delivery)
        reply = self.run_command(command, event.installation_id, github)
        if reply:
            github.reply(event.issue_number, reply, key=event.delivery)

    def _may_write(self, github: RepoGitHub, login: str, issue: int, delivery: str) -> bool:
        if github.permission(login) in WRITE_PERMISSIONS:
            return True
        github.reply(issue, f"@{login} ccs commands need write access to this repository; "
                            "nothing was started.", key=delivery)
        return False

    def run_command(self, command: Command, installation_id: int | None,
                    github: RepoGitHub) -> str | None:
        """Run one command; return the reply to post, or None when the session speaks."""
        if isinstance(command, ShowHelp):
            reason = f"{quoted(command.reason)}\n\n" if command.reason else ""
            return reason + HELP_TEXT
        bus = self.runtime.bus(command.repository, installation_id)
        try:
            if isinstance(command, StartSession):
                started = bus.handle(dataclasses.replace(command, installation_id=installation_id))
                bind_log_context(session=getattr(started, "id", None))
            elif isinstance(command, ShowStatus):
                return self._status(command)
            elif isinstance(command, RetrySession | CancelSession):
                target = self._target(command).id
                bind_log_context(session=target)
                bus.handle(dataclasses.replace(command, session_id=target))
        except BadInput as error:
            # Error text may quote git or GitHub output: mask secrets before posting it.
            clean = self.config.redact(str(error))
            return f"ccs could not do that:\n\n{quoted(clean)}"
        return None

    def _target(self, command: RetrySession | CancelSession | ShowStatus) -> SessionRow:
        if command.session_id:
            try:
                return self.store.session(command.session_id, command.repository)
            except NotFound:
                raise BadInput(f"no session {command.session_id} in {command.repository}",
                               code="not_found", status=404) from None
        found = self.store.sessions_for_issue(command.repository, command.issue or 0, 1)
        if not found:
            raise BadInput("this issue has no ccs session yet", code="not_found", status=404)
        return found[0]

    def _status(self, command: ShowStatus) -> str:
        if command.session_id:
            sessions = [self._target(command)]
        else:
            sessions = self.store.sessions_for_issue(command.repository, command.issue or 0)
        if not sessions:
            return "This issue has no ccs session yet."
        lines = ["| session | context | status | branch |", "|---|---|---|---|"]
        for session in sessions:
            lines.append(f"| `{session.id}` | {session.context} | {session.status} | "
                         f"`{session.branch}` |")
        message = sessions[0].message
        return "\n".join(lines) + (f"\n\n{quoted(message)}" if message else "")

    # Lost results -------------------------------------------------------------------

    def on_job_completed(self, event: ev.WorkflowJobCompleted) -> None:
        """Fail a still-active child whose job ended without calling back."""
        words = set(re.findall(r"[A-Za-z0-9_]+", event.job_name))
        for child, session in self.store.active_children_of_run(event.repository,
                                                                event.run_id):
            name = "verify" if child.kind == ChildKind.VERIFY else child.component
            if child.id in words or name in words:
                self._lost(child, session, event.conclusion, event.html_url)

    def on_run_completed(self, event: ev.WorkflowRunCompleted) -> None:
        """Fail every still-active child of a finished run (its callbacks were lost)."""
        for child, session in self.store.active_children_of_run(event.repository,
                                                                event.run_id):
            self._lost(child, session, event.conclusion, event.html_url)

    def _lost(self, child: ChildRow, session: SessionRow, conclusion: str | None,
              url: str | None) -> None:
        message = (f"the job ended ({conclusion or 'unknown'}) without reporting a result; "
                   f"see {url or 'the workflow run'}")
        result = ChildResult(status="failed", commit=None, branch=None,
                             attempts=child.attempts, tests=TestCounts(), message=message,
                             log_url=url)
        bind_log_context(session=session.id)
        bus = self.runtime.bus(session.repository, session.installation_id)
        bus.handle(RecordChildResult(child.id, result, repository=session.repository))

    def on_installation(self, event: ev.InstallationChanged) -> None:
        """Keep the installation row (its state, the repositories it covers) current."""
        self.store.upsert_installation(event.installation_id, event.account,
                                       state_after(event.action), event.repositories,
                                       event.repositories_removed)

    def _refused(self, repository: str, installation_id: int | None) -> bool:
        """Log and drop work for an installation that is suspended or gone.

        No reply: every call through a suspended or deleted installation fails, the reply
        included, so the refusal is logged (and the API says it to whoever asks there).
        """
        refusal = self.store.installation_refusal(repository, installation_id)
        if refusal is not None:
            log.warning("refused: %s", refusal)
        return refusal is not None

