"""The GitHub executor: children run as Actions matrix jobs, ≤256 per workflow_dispatch."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from service.adapters.db.models import ChildRow, DispatchRow, SessionRow, utcnow
from service.adapters.db.store import Store
from service.adapters.github import chunks as plan
from service.adapters.github.client import ClientOptions, GitHubError
from service.adapters.github.dispatch_log import FAILED, PLANNED, SENT, DispatchLog
from service.adapters.github.repo import RepoGitHub
from service.domain.names import staging_branch, wave_branch
from service.domain.states import ChildKind, ChildMoves, ChildStatus
from service.domain.wire import JobConfig, VerifyEntry

log = logging.getLogger(__name__)
C = ChildStatus
# How far GitHub's clock may be behind ours when matching a run to a dispatch.
CLOCK_SKEW = timedelta(seconds=120)
# How long a planned chunk belongs to the process that planned it: within it, another
# worker may look its run up but never send it again (the planner may be sending it now).
SEND_LEASE = timedelta(seconds=90)


class GitHubExecutor:
    """Dispatches children through the workflow API; results come back on the callback.

    Per-child callback tokens (CCS_CALLBACK_AUTH=token) are never sent: workflow inputs and
    matrix values are readable by everyone who can read the repository and show up in job
    names. Token mode is for local and self-hosted callers; Actions jobs use OIDC.
    """

    def __init__(self, repo: RepoGitHub, store: Store, workflow: str, callback_url: str | None,
                 options: ClientOptions | None = None) -> None:
        self.repo, self.store = repo, store
        self.workflow = workflow
        self.callback_url = callback_url
        self.options = options or ClientOptions()
        self.dispatches = DispatchLog(store)

    # Executor port ------------------------------------------------------------------

    def dispatch(self, session: SessionRow, children: list[ChildRow], config: JobConfig) -> None:
        """Send the pending children in as few dispatches as the limits allow (never twice)."""
        config_json = plan.compact(config.to_json())
        rows = self.dispatches.rows(session.id, session.round, ChildKind.COMPONENT)
        for row in rows:
            if row.state == PLANNED:
                self._resume(session, row, config_json)
        claimed = {child_id for row in rows for child_id in row.child_ids}
        fresh = [c for c in children if c.id not in claimed and c.status == ChildStatus.PENDING]
        if not fresh:
            return
        fixed = plan.fixed_input_chars(session.id, session.branch, self.callback_url or "",
                                       ChildKind.COMPONENT, config_json)
        try:
            planned = plan.plan_chunks([plan.component_entry(c) for c in fresh], fixed)
        except plan.DispatchTooLarge as error:
            self._fail_children([c.id for c in fresh], f"cannot dispatch: {error}")
            return
        next_chunk = max((row.chunk for row in rows), default=-1) + 1
        for number, entries in enumerate(planned, start=next_chunk):
            row = self.dispatches.plan(session.id, session.round, number, ChildKind.COMPONENT,
                                       [e["child"] for e in entries])
            if row is not None:
                self._mark_dispatched(session, row.child_ids)
                self._send(session, row, ChildKind.COMPONENT, config_json, entries)

    def cancel(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Cancel the runs that hold the children (one call per run, not per child)."""
        wanted = {c.id for c in children}
        runs = {c.run_id for c in children if c.run_id}
        runs |= {row.run_id for row in self.dispatches.rows(session.id)
                 if row.run_id and wanted & set(row.child_ids)}
        for run_id in sorted(runs):
            try:
                self.repo.client.write("POST", self.repo.path("actions", "runs", str(run_id),
                                                              "cancel"))
            except GitHubError as error:
                if error.status not in (404, 409):  # 409: the run has finished already
                    raise

    def resume(self, session: SessionRow, config: JobConfig) -> None:
        """Finish chunks left `planned` by a crash (look the run up before re-sending)."""
        config_json = plan.compact(config.to_json())
        for row in self.dispatches.rows(session.id, session.round):
            if row.state == PLANNED:
                self._resume(session, row, config_json)

    # Verify mode ----------------------------------------------------------------------

    def dispatch_verify(self, session: SessionRow, row: ChildRow, config: JobConfig,
                        ref: str) -> None:
        """Dispatch the verify job for the merged tree on the staging branch `ref`."""
        config_json = plan.compact(config.to_json())
        rows = self.dispatches.rows(session.id, session.round, ChildKind.VERIFY)
        # After an integration round the new merged tree gets a verify row of its own.
        existing = [r for r in rows if row.id in r.child_ids]
        if existing:
            if existing[0].state == PLANNED:
                self._resume(session, existing[0], config_json, verify_ref=ref)
            return
        chunk = max((r.chunk for r in rows), default=-1) + 1
        planned = self.dispatches.plan(session.id, session.round, chunk, ChildKind.VERIFY,
                                       [row.id])
        if planned is not None:
            entry = VerifyEntry(child=row.id, ref=ref).to_json()
            self._send(session, planned, ChildKind.VERIFY, config_json, [entry])

    # Sending --------------------------------------------------------------------------

    def _resume(self, session: SessionRow, row: DispatchRow, config_json: str,
                verify_ref: str | None = None) -> None:
        self._mark_dispatched(session, row.child_ids)
        found = self._find_run(session, row, tries=1)
        if found is not None:
            self._sent(row, found)
            return
        if utcnow() - _aware(row.created_at) < SEND_LEASE:
            return  # maybe being sent right now; a later reconcile sends it if not
        if row.mode == ChildKind.VERIFY:
            ref = verify_ref or staging_branch(session.id)
            entries = [VerifyEntry(child=row.child_ids[0], ref=ref).to_json()]
        else:
            by_id = {c.id: c for c in self.store.children(session.id, kind=None)}
            entries = [plan.component_entry(by_id[i]) for i in row.child_ids if i in by_id]
            first = by_id.get(row.child_ids[0]) if row.child_ids else None
            if first is not None and first.kind == ChildKind.INTEGRATION:
                config_json = integration_config_json(config_json, first.spec)
        self._send(session, row, row.mode, config_json, entries)

    def _send(self, session: SessionRow, row: DispatchRow, mode: str, config_json: str,
              entries: list[dict[str, Any]]) -> None:
        """POST the dispatch, record the run; on failure fail the chunk's children."""
        if not self.callback_url:
            self._give_up(row, "cannot dispatch: CCS_PUBLIC_URL is not set, so jobs could not "
                               "report back")
            return
        inputs = plan.dispatch_inputs(session.id, self._start_branch(session, row, mode),
                                      self.callback_url, mode, config_json, entries,
                                      session.parallel or 8)
        path = self.repo.path("actions", "workflows", self.workflow, "dispatches")
        body = {"ref": self.repo.default_branch(), "inputs": inputs}
        try:
            answer = self.repo.client.write("POST", path, {**body, "return_run_details": True})
            run = _run_from_details(answer)
        except GitHubError as error:
            run = self._send_plain(session, row, path, body, error)
            if isinstance(run, str):
                self._give_up(row, run)
                return
        if run is None:
            run = self._find_run(session, row, tries=self.options.run_lookup_tries)
        self._sent(row, run)

    def _send_plain(self, session: SessionRow, row: DispatchRow, path: str, body: dict,
                    error: GitHubError) -> tuple[int, str | None] | str | None:
        """Handle a failed first POST; return the run, None (sent, run unknown) or a reason."""
        if error.status is None or error.status >= 500:
            # The POST may have reached GitHub: look before sending it again.
            found = self._find_run(session, row, tries=self.options.run_lookup_tries)
            if found is not None:
                return found
        elif error.status not in (400, 422):
            return f"cannot dispatch the {self.workflow} workflow: {error}"
        # An older GitHub (or GHES) rejects return_run_details: send without it once.
        try:
            self.repo.client.write("POST", path, body)
        except GitHubError as second:
            return f"cannot dispatch the {self.workflow} workflow: {second}"
        return None

    def _find_run(self, session: SessionRow, row: DispatchRow,
                  tries: int) -> tuple[int, str | None] | None:
        """Return the unclaimed run named `ccs <session>` created after the chunk was planned."""
        title = f"ccs {session.id}"
        since = _aware(row.created_at) - CLOCK_SKEW
        for attempt in range(max(1, tries)):
            if attempt:
                time.sleep(self.options.run_lookup_delay)  # let the run appear in the list
            claimed = self.dispatches.claimed_runs(session.id)
            body = self.repo.client.get(
                self.repo.path("actions", "workflows", self.workflow, "runs"),
                event="workflow_dispatch", per_page=100)
            candidates = [
                run for run in body.get("workflow_runs") or []
                if title in (run.get("display_title"), run.get("name"))
                and run["id"] not in claimed and _parse_time(run.get("created_at")) >= since
            ]
            if candidates:
                oldest = min(candidates, key=lambda run: run["id"])
                return oldest["id"], oldest.get("html_url")
        return None

    def _sent(self, row: DispatchRow, run: tuple[int, str | None] | None) -> None:
        run_id, run_url = run if run else (None, None)
        self.dispatches.mark(row.id, SENT, run_id, run_url)
        if run_id:
            self.dispatches.record_run(row.child_ids, run_id, run_url)
        log.info("dispatched %s chunk %s (%d entries) as run %s", row.session_id, row.chunk,
                 len(row.child_ids), run_id)

    def _mark_dispatched(self, session: SessionRow, child_ids: list[str]) -> None:
        # Before the POST: a fast job's callback must find its child active, not pending.
        # Each child keeps the start commit Spawn recorded (its wave's, DESIGN §3b).
        self.store.apply_to_all(ChildMoves.DISPATCH, child_ids, dispatched_at=utcnow())

    def _start_branch(self, session: SessionRow, row: DispatchRow, mode: str) -> str:
        """Return the branch the chunk's jobs check out: the session branch, or for a later
        dependency wave its wave branch (one wave per dispatch, DESIGN §3b)."""
        if mode != ChildKind.COMPONENT or not row.child_ids:
            return session.branch
        child = self.store.child(row.child_ids[0])
        if child.kind == ChildKind.INTEGRATION:
            # Like verify, it works on the merged tree, which only the staging branch holds.
            return staging_branch(session.id)
        wave = int(child.spec.get("wave") or 0)
        return wave_branch(session.id, wave) if wave else session.branch

    def _give_up(self, row: DispatchRow, reason: str) -> None:
        self.dispatches.mark(row.id, FAILED)
        self._fail_children(row.child_ids, reason)

    def _fail_children(self, child_ids: list[str], reason: str) -> None:
        log.warning("dispatch failed: %s", reason)
        for child_id in child_ids:
            child = self.store.child(child_id)
            self.store.apply(ChildMoves.FAIL_DISPATCH, child_id,
                             message=f"{child.component}: {reason}. Retry with `/ccs retry` "
                                          "once it is fixed.", finished_at=utcnow())


def integration_config_json(config_json: str, spec: dict[str, Any]) -> str:
    """Return the integration job's config from the session's: verify is its test, for the
    rounds its spec records (a resumed send is handed the session's config)."""
    body = json.loads(config_json)
    body["test"] = body.get("verify")
    body["attempts"] = int(spec.get("rounds") or body.get("attempts") or 1)
    return plan.compact(body)


def _run_from_details(answer: Any) -> tuple[int, str | None] | None:
    if isinstance(answer, dict) and answer.get("workflow_run_id"):
        return int(answer["workflow_run_id"]), answer.get("html_url")
    return None


def _parse_time(text: str | None) -> datetime:
    if not text:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)
