"""POST /api/v1/children/<child_id>/result: a child job reports its result (DESIGN §5, §6)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.db.store import NotFound, Store
from service.adapters.github.reporter import progress_milestone
from service.auth import AuthError, child_tokens
from service.auth.api_token import bearer_token
from service.auth.oidc import OidcClaims, check_binding
from service.domain.wire import ChildResult, InvalidResult, parse_result
from service.orchestrator.results import ResultRecorder
from service.web.errors import ApiError
from service.web.state import enqueue, metrics, record_token_id, services, verify_oidc

bp = Blueprint("callbacks", __name__, url_prefix="/api/v1")


@bp.post("/children/<child_id>/result")
def child_result(child_id: str):
    """Record the first result of a child (202); a later one gets 409."""
    try:
        return _child_result(child_id)
    except (ApiError, AuthError) as error:
        _count(error.code)
        raise


def _child_result(child_id: str):
    s = services()
    claims = _authenticate(child_id)
    refused: ApiError | AuthError | None = None
    outcome = "refused"
    try:
        child, session, result = _checked(s.store, child_id, claims)
    except (ApiError, AuthError) as error:
        refused = error
    # One short transaction: the token id, the compare-and-set and the log line (one commit,
    # one turn at SQLite's write lock). Reads and checks happen before it, so the lock is
    # held only for the writes.
    with s.store.atomic():
        if claims is not None:
            # A valid token's id is recorded even when the request is refused below, so it
            # can never be replayed; a replay is refused first, as before.
            record_token_id(claims)
        if refused is None:
            # No orchestrator (GitHub client, mirror) here: fan-in runs in a queue task.
            outcome = ResultRecorder(s.store).record(child, session, result)
    if refused is not None:
        raise refused
    if outcome == "duplicate":
        raise ApiError(409, "already_recorded",
                       f"child {child_id} already has a result; the first one wins")
    _fan_in(child, session)
    _count("accepted")
    return jsonify({"status": "accepted"}), 202


def _checked(store: Store, child_id: str,
             claims: OidcClaims | None) -> tuple[ChildRow, SessionRow, ChildResult]:
    """Return the child, its session and the parsed result; raise what refuses the request."""
    try:
        child, session = store.child_with_session(child_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no child {child_id!r}") from None
    if claims is not None:
        check_binding(claims, session.repository, child.run_id)
    try:
        result = parse_result(request.get_json(silent=True))
    except InvalidResult as error:
        raise ApiError(400, "bad_result", str(error)) from None
    return child, session, result


def _authenticate(child_id: str) -> OidcClaims | None:
    """Check the caller (raises AuthError); return the OIDC claims, whose id is not recorded
    yet (the caller records it), or None in token mode."""
    config = services().config
    if config.callback_auth == "token":
        token = bearer_token(request.headers.get("Authorization"))
        if not child_tokens.verify(config.callback_token_key(), child_id, token):
            raise AuthError(401, "bad_child_token", "the child callback token is missing or "
                                                    "wrong")
        return None
    return verify_oidc(record=False)


def _fan_in(child: ChildRow, session: SessionRow) -> None:
    # Validate/Finalize may take minutes: run them in a task; the CAS keeps it to one.
    if child.kind == "verify":
        enqueue("continue_after_verify", session.id)
        return
    # Coalesce: a fan_in task per result mostly found children still running. Counted after
    # our commit, so the last result to commit always sees every child rested and enqueues
    # (two near-last ones may both enqueue: the CAS keeps Validate to one). Between, a
    # task runs only at the tracking comment's progress milestones.
    if progress_milestone(services().store.child_status_counts(session.id)):
        enqueue("fan_in", session.id)


def _count(outcome: str) -> None:
    metrics().count("ccs_callbacks_total", "Child result callbacks by outcome",
                    outcome=outcome)
