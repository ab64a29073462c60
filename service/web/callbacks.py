"""POST /api/v1/children/<child_id>/result: a child job reports its result (DESIGN §5, §6);
POST …/progress: the attempt boundaries it passes on the way (setup, coder, tests of k/n)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from service.adapters.db.models import utcnow
from service.adapters.db.store import NotFound, Store
from service.auth import AuthError, child_tokens
from service.auth.api_token import bearer_token
from service.auth.oidc import TOKEN_REPLAYED, OidcClaims, check_binding
from service.config.log_format import bind_log_context
from service.domain.bundles import MAX_BUNDLE_CHARS
from service.domain.live import progress_data
from service.domain.progress import NextStep
from service.domain.states import ChildMoves, ChildStatus
from service.domain.wire import ChildResult, InvalidResult, parse_result
from service.orchestrator.ports import ChildRecord, SessionRecord
from service.orchestrator.results import record_result
from service.web.bodies import parse_json
from service.web.errors import ApiError
from service.web.state import (
    SEEN_TOKEN_RETENTION,
    metrics,
    record_token_id,
    services,
    verify_oidc,
)

bp = Blueprint("callbacks", __name__, url_prefix="/api/v1")
# A result may carry the child's commit as an 8 MiB bundle (DESIGN §6a), plus the rest.
RESULT_MAX_BYTES = MAX_BUNDLE_CHARS + 1024 * 1024


@bp.before_request
def _allow_a_bundle() -> None:
    """Let a result body (only a result: a progress post carries no bundle) pass the
    service-wide body limit by the size of a bundle."""
    if request.endpoint == f"{bp.name}.child_result":
        request.max_content_length = max(services().config.max_body_bytes, RESULT_MAX_BYTES)


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
    token = (claims.jti, utcnow() + SEEN_TOKEN_RETENTION) if claims is not None else None
    try:
        # ONE transaction: the read, then one write that records the token id, makes the
        # compare-and-set, logs it and counts the children still active (on PostgreSQL:
        # BEGIN, two statements, COMMIT). No orchestrator step (git, GitHub) runs here:
        # what follows goes to a queue task.
        with s.store.atomic():
            child, session, result = _checked(s.store, child_id, claims)
            recorded = record_result(s.store, child, session, result, utcnow(), token=token,
                                     clean=s.config.redact)
    except (ApiError, AuthError):
        if claims is not None:
            # A valid token's id is recorded even when the request is refused, so it can
            # never be replayed; a replay is refused first, as before.
            with s.store.atomic():
                record_token_id(claims)
        raise
    bind_log_context(session=session.id)
    if recorded.outcome == "replayed":
        raise AuthError(*TOKEN_REPLAYED)
    if not recorded.accepted:
        raise ApiError(409, "already_recorded",
                       f"child {child_id} already has a result; the first one wins")
    if recorded.next != NextStep.NONE:
        s.defer(recorded.task, session.id)
    _count("accepted")
    return jsonify({"status": "accepted"}), 202


@bp.post("/children/<child_id>/progress")
def child_progress(child_id: str):
    """Record an attempt boundary of a child still at work (202); 409 once it rested."""
    s = services()
    claims = _authenticate(child_id)
    try:
        child, session = s.store.child_with_session(child_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no child {child_id!r}") from None
    with s.store.atomic():
        if claims is not None:
            record_token_id(claims)  # first, so a refused token can never be replayed
    if claims is not None:
        check_binding(claims, session.repository, child.run_id)
    data = progress_data(parse_json(request.get_data(cache=True), "the progress"))
    if data is None:
        raise ApiError(400, "bad_progress", 'send {"phase": "setup|coder|tests", "attempt": '
                                            'k, "attempts": n}')
    if ChildStatus(child.status).is_terminal:
        raise ApiError(409, "already_rested", f"child {child_id} already has a result")
    with s.store.atomic():
        # The first boundary is also the job's start: dispatched → running (its own event).
        s.store.apply(ChildMoves.START, child_id)
        s.store.add_event(session.id, "progress", child_id, data=data)
    return jsonify({"status": "accepted"}), 202


def _checked(store: Store, child_id: str,
             claims: OidcClaims | None) -> tuple[ChildRecord, SessionRecord, ChildResult]:
    """Return the child, its session and the parsed result; raise what refuses the request."""
    try:
        child, session = store.child_with_session(child_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no child {child_id!r}") from None
    if claims is not None:
        check_binding(claims, session.repository, child.run_id)
    try:
        result = parse_result(parse_json(request.get_data(cache=True), "the result"))
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


def _count(outcome: str) -> None:
    metrics().count("ccs_callbacks_total", "Child result callbacks by outcome",
                    outcome=outcome)
