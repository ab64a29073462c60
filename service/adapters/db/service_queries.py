"""The service's own bookkeeping beside the orchestrator's Store port: webhook deliveries
(the durable inbox), token ids, installations, and the reads the web and worker make."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from service.adapters.db.models import (
    ChildBundleRow,
    ChildRow,
    InstallationRow,
    SeenTokenRow,
    SessionRow,
    WebhookDeliveryRow,
    utcnow,
)
from service.domain.installations import ACTIVE, installation_refusal
from service.domain.states import ChildStatus

NEW, PENDING, DONE = "new", "pending", "done"


class ServiceQueries:
    """Mixed into Store: needs its `unit()` and `_insert_once()`."""

    def unit(self) -> Any: ...  # provided by Store
    def _insert_once(self, row: Any) -> bool: ...  # provided by Store

    # Child bundles (DESIGN §6a) ----------------------------------------------------

    def save_bundle(self, child_id: str, data: bytes) -> None:
        """Keep a child's bundle until Validate takes it in (a later one replaces it)."""
        with self.unit() as db:
            db.merge(ChildBundleRow(child_id=child_id, data=data, received_at=utcnow()))

    def bundle(self, child_id: str) -> bytes | None:
        """Return the child's kept bundle, or None."""
        with self.unit() as db:
            row = db.get(ChildBundleRow, child_id)
            return bytes(row.data) if row is not None else None

    def drop_bundle(self, child_id: str) -> None:
        """Forget a child's bundle (taken in, or refused)."""
        with self.unit() as db:
            row = db.get(ChildBundleRow, child_id)
            if row is not None:
                db.delete(row)

    # Webhook and token bookkeeping --------------------------------------------------

    def record_delivery(self, delivery_id: str, event: str) -> bool:
        """Record a webhook delivery id; return False when it was seen before."""
        return self._insert_once(WebhookDeliveryRow(delivery_id=delivery_id, event=event))

    def record_event(self, delivery_id: str, event: str, payload: dict | None) -> str:
        """Keep a verified delivery and its typed event before the webhook answers.

        Return NEW (first time), PENDING (seen, but its effect never recorded: do it now)
        or DONE (seen and done: a redelivery does nothing twice). A delivery with no
        payload (nothing to do) is done at once.
        """
        done_at = None if payload is not None else utcnow()
        if self._insert_once(WebhookDeliveryRow(delivery_id=delivery_id, event=event,
                                                payload=payload, done_at=done_at)):
            return NEW
        with self.unit() as db:
            row = db.get(WebhookDeliveryRow, delivery_id)
        return DONE if row is None or row.done_at is not None or row.payload is None else PENDING

    def event_payload(self, delivery_id: str) -> dict | None:
        """Return a delivery's typed event while its effect is not recorded, else None."""
        with self.unit() as db:
            row = db.get(WebhookDeliveryRow, delivery_id)
        return row.payload if row is not None and row.done_at is None else None

    def mark_event_done(self, delivery_id: str) -> None:
        """Record that a delivery's effect took place."""
        with self.unit() as db:
            db.execute(update(WebhookDeliveryRow)
                       .where(WebhookDeliveryRow.delivery_id == delivery_id)
                       .values(done_at=utcnow()))

    def pending_events(self, received_before: datetime) -> list[str]:
        """Return the deliveries received before a time whose effect is not recorded."""
        with self.unit() as db:
            return list(db.scalars(
                select(WebhookDeliveryRow.delivery_id)
                .where(WebhookDeliveryRow.done_at.is_(None),
                       WebhookDeliveryRow.payload.is_not(None),
                       WebhookDeliveryRow.received_at < received_before)
                .order_by(WebhookDeliveryRow.received_at)))

    def record_token(self, jti: str, expires_at: datetime) -> bool:
        """Record a callback token id; return False when it was used before."""
        return self._insert_once(SeenTokenRow(jti=jti, expires_at=expires_at))

    def upsert_installation(self, installation_id: int, account: str | None, status: str,
                            added: Iterable[str] = (), removed: Iterable[str] = ()) -> None:
        """Insert or update a GitHub App installation, its state and its repositories."""
        with self.unit() as db:
            row = db.get(InstallationRow, installation_id)
            if row is None:
                row = InstallationRow(id=installation_id, account=account or "",
                                      repositories=[])
                db.add(row)
            names = [n for n in (row.repositories or []) if n not in set(removed)]
            names += [n for n in added if n not in names]
            row.status, row.active, row.repositories = status, status == ACTIVE, names
            row.account = account or row.account

    def installation_refusal(self, repository: str,
                             installation_id: int | None = None) -> str | None:
        """Return why `repository` cannot be worked on (its installation was suspended or
        removed), or None. The installation named by id when ccs knows it, else those that
        list the repository or, listing nothing, belong to its owner (any active one will
        do)."""
        owner = repository.split("/", 1)[0].lower()
        with self.unit() as db:
            named = db.get(InstallationRow, installation_id) if installation_id else None
            rows = [named] if named is not None else [
                row for row in db.scalars(select(InstallationRow))
                if _covers(row, repository, owner)]
        if not rows or any(row.status == ACTIVE for row in rows):
            return None
        row = rows[0]
        return installation_refusal(row.status, row.account, row.id, repository)

    # Service queries ----------------------------------------------------------------

    def sessions_for_issue(self, repository: str, issue_number: int,
                           limit: int = 10) -> list[SessionRow]:
        """Return the sessions started from one issue, newest first."""
        with self.unit() as db:
            return list(db.scalars(
                select(SessionRow).where(SessionRow.repository == repository,
                                         SessionRow.issue_number == issue_number)
                .order_by(SessionRow.created_at.desc(), SessionRow.id.desc()).limit(limit)
            ))

    def active_children_of_run(self, repository: str,
                               run_id: int) -> list[tuple[ChildRow, SessionRow]]:
        """Return dispatched or running children of a workflow run in `repository`."""
        active = [ChildStatus.DISPATCHED.value, ChildStatus.RUNNING.value]
        with self.unit() as db:
            rows = db.execute(
                select(ChildRow, SessionRow)
                .join(SessionRow, SessionRow.id == ChildRow.session_id)
                .where(ChildRow.run_id == run_id, ChildRow.status.in_(active),
                       SessionRow.repository == repository)
            ).all()
        return [(child, session) for child, session in rows]

    def session_ids_in(self, statuses: Iterable[str],
                       updated_before: datetime | None = None) -> list[str]:
        """Return the ids of sessions in any of `statuses` (not updated since), oldest first."""
        with self.unit() as db:
            query = select(SessionRow.id).where(SessionRow.status.in_(list(statuses)))
            if updated_before is not None:
                query = query.where(SessionRow.updated_at < updated_before)
            return list(db.scalars(query.order_by(SessionRow.created_at)))

    def session_status_counts(self) -> dict[str, int]:
        """Return how many sessions are in each status (one query)."""
        with self.unit() as db:
            rows = db.execute(
                select(SessionRow.status, func.count()).group_by(SessionRow.status)
            ).all()
        return {status: count for status, count in rows}



def _covers(row: InstallationRow, repository: str, owner: str) -> bool:
    """Tell whether an installation row covers `repository` (by name, else by its owner)."""
    names = [str(name).lower() for name in row.repositories or []]
    return repository.lower() in names if names else row.account.lower() == owner
