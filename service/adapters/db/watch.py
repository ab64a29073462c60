"""Watch one session through its event stream: fold new events, re-read only what moved.

The CLI table, `ccs status --watch` and the SSE stream each hold one of these; a tick costs
one indexed query for the new events, plus one read of the children (and the session)
those events name — never a read of every child.
"""

from __future__ import annotations

from collections.abc import Iterator

from service.adapters.db.models import ChildRow, EventRow, SessionRow
from service.adapters.db.store import Store
from service.domain.live import Changes, LiveView
from service.domain.states import ChildKind, SessionStatus

PAGE = 500


class SessionWatch:
    """The live state of one session: its row, its component rows and the folded events."""

    def __init__(self, store: Store, session_id: str, repository: str | None = None,
                 after: int = 0) -> None:
        self.store = store
        self.session: SessionRow = store.session(session_id, repository)
        self.view = LiveView()
        # The integration child (DESIGN §3b) is shown like a component; verify is not.
        shown = store.children(session_id) + store.children(session_id,
                                                            kind=ChildKind.INTEGRATION)
        self._rows: dict[str, ChildRow] = {c.id: c for c in shown}
        self._ordered: list[ChildRow] | None = None
        if after:
            # A resumed stream knows the phases up to `after`; poll() then hands the rest.
            for batch in self._batches(0):
                self.view.fold(e for e in batch if e.id <= after)
                if batch[-1].id >= after:
                    break
            self.view.last_id = after
        else:
            self.poll()  # what happened before we came: phases, attempts, start times

    @property
    def children(self) -> list[ChildRow]:
        """Return the component (and integration) children in spawn order."""
        if self._ordered is None:
            self._ordered = sorted(self._rows.values(), key=lambda c: c.position)
        return self._ordered

    def child(self, child_id: str) -> ChildRow | None:
        """Return a component child's latest row (None for the verify row or an unknown id)."""
        return self._rows.get(child_id)

    @property
    def rested(self) -> bool:
        """Return True when the session is at rest (complete, needs attention, failed,
        cancelled)."""
        return SessionStatus(self.session.status).is_terminal

    def poll(self) -> Changes:
        """Fold the events since the last poll; re-read the rows they name."""
        changes = Changes()
        for batch in self._batches(self.view.last_id):
            changes.add(self.view.fold(batch))
        if changes.children:
            for row in self.store.children_by_id(changes.children):
                if row.kind in (ChildKind.COMPONENT, ChildKind.INTEGRATION):
                    self._rows[row.id] = row
            self._ordered = None
        if changes.session or changes.children:
            # A child's move may move the session too; its row is one cheap read.
            self.session = self.store.session(self.session.id)
        return changes

    def _batches(self, after: int) -> Iterator[list[EventRow]]:
        """Yield the events after `after` a page at a time (most polls: one short page)."""
        while True:
            batch = self.store.events(self.session.id, after=after, limit=PAGE)
            if batch:
                yield batch
            if len(batch) < PAGE:
                return
            after = batch[-1].id
