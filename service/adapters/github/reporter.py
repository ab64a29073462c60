"""The tracking reporter: one comment per session on its issue, edited in place."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from service.adapters.db.models import SessionRow
from service.adapters.db.store import Store
from service.adapters.github.repo import RepoGitHub
from service.adapters.github.tracking import marker, render_tracking_comment
from service.domain.progress import milestone_step, rested
from service.domain.redaction import redact
from service.domain.states import SessionStatus


class TrackingReporter:
    """Creates the tracking comment once (looking for its marker first) and edits it after."""

    def __init__(self, repo: RepoGitHub, store: Store, retry_command: str = "/ccs retry",
                 bot_login: str | None = None,
                 clean: Callable[[str], str] = redact) -> None:
        self.repo, self.store = repo, store
        self.clean = clean
        self.retry_command = retry_command
        self.bot_login = bot_login
        self._rendered: dict[str, str] = {}  # session id -> hash of the body GitHub holds
        self._rested: dict[str, int] = {}  # session id -> rested children at the last edit
        self._event: dict[str, int] = {}  # session id -> its last event at the last edit
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def session_changed(self, session_id: str) -> None:
        """Bring the session's tracking comment up to date (no call when nothing changed)."""
        # The event stream says whether anything moved since the last edit: one indexed
        # read, and no other read or GitHub call when nothing did.
        last_event = self.store.last_event_id(session_id)
        if session_id in self._rendered and self._event.get(session_id) == last_event:
            return
        session = self.store.session(session_id)
        if not session.issue_number:
            return
        with self._lock_for(session_id):
            # Decide from the counts (one small query) before reading every child.
            counts = self.store.child_status_counts(session_id, kind=None)
            if not self._worth_an_edit(session, counts):
                return
            children = self.store.children(session_id, kind=None)
            body = self.clean(render_tracking_comment(session, children, self.retry_command))
            digest = hashlib.sha256(body.encode()).hexdigest()
            if self._rendered.get(session_id) == digest:
                return
            comment_id = session.tracking_comment_id or self._find(session)
            if comment_id is None:
                created = self.repo.client.write(
                    "POST", self.repo.path("issues", str(session.issue_number), "comments"),
                    {"body": body})
                comment_id = int(created["id"])
            else:
                self.repo.client.write(
                    "PATCH", self.repo.path("issues", "comments", str(comment_id)),
                    {"body": body})
            if session.tracking_comment_id != comment_id:
                self.store.update_session(session_id, tracking_comment_id=comment_id)
            self._rendered[session_id] = digest
            self._rested[session_id] = rested(counts)
            self._event[session_id] = last_event

    def _worth_an_edit(self, session: SessionRow, counts: dict[str, int]) -> bool:
        """Skip progress-only edits between milestones (every ~N/PROGRESS_EDITS children)."""
        if session.status != SessionStatus.RUNNING or session.id not in self._rendered:
            return True
        # At least a step more rested since the last edit (not "a multiple of the step":
        # fan_in tasks are queued at milestones but run a few results later).
        total, done = sum(counts.values()), rested(counts)
        return done == total or done - self._rested.get(session.id, 0) >= milestone_step(total)


    def _lock_for(self, session_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(session_id, threading.Lock())

    def _find(self, session: SessionRow) -> int | None:
        """Look for a comment this session posted before (its marker opens the body)."""
        assert session.issue_number is not None
        return self.repo.find_marked_comment(session.issue_number, marker(session.id),
                                             self.bot_login)
