"""Per-app objects the blueprints use: services, metrics and the cached OIDC verifier."""

from __future__ import annotations

import hmac
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, request

from service.adapters.db.models import utcnow
from service.auth import AuthError
from service.auth.api_token import bearer_token, check_bearer
from service.auth.oidc import TOKEN_REPLAYED, OidcClaims, OidcVerifier
from service.web.errors import ApiError
from service.web.metrics import Metrics

if TYPE_CHECKING:
    from service.bootstrap import Services

# Actions tokens live minutes; remembering their ids for a day outlasts any replay window.
SEEN_TOKEN_RETENTION = timedelta(days=1)
_verifier_lock = threading.Lock()


def _ext() -> dict[str, Any]:
    return current_app.extensions["ccs"]


def services() -> Services:
    """Return the app's services (config, store, runtime, queue)."""
    return _ext()["services"]


def metrics() -> Metrics:
    """Return the app's metrics."""
    return _ext()["metrics"]


def enqueue(name: str, *args: Any) -> None:
    """Hand a task to the queue."""
    queue = services().queue
    assert queue is not None, "services are built with a queue"
    queue.enqueue(name, *args)


def oidc_verifier() -> OidcVerifier:
    """Return the services' OIDC verifier, built once (it caches the issuer's keys)."""
    s = services()
    with _verifier_lock:
        if s.oidc is None:
            if not s.config.public_url:
                raise ApiError(503, "oidc_unconfigured", "CCS_PUBLIC_URL is not set, so OIDC "
                               "tokens (whose audience it is) cannot be checked")
            s.oidc = OidcVerifier(issuer=s.config.oidc_issuer, audience=s.config.public_url,
                                  jwks_url=s.config.oidc_jwks_url)
        return s.oidc


def verify_oidc(record: bool = True) -> OidcClaims:
    """Return the claims of the request's OIDC bearer token (raises AuthError 401).

    With record=False the token id is not recorded yet: the caller must call
    `record_token_id` (e.g. inside its own transaction) before acting on the request.
    """
    claims = oidc_verifier().verify(bearer_token(request.headers.get("Authorization")))
    if record:
        record_token_id(claims)
    return claims


def record_token_id(claims: OidcClaims) -> None:
    """Record a verified token's id; raise AuthError 401 when it was used before."""
    if not services().store.record_token(claims.jti, utcnow() + SEEN_TOKEN_RETENTION):
        raise AuthError(*TOKEN_REPLAYED)


def has_api_token() -> bool:
    """Return True when the request carries CCS_API_TOKEN as a Bearer token or Basic password."""
    expected = services().config.api_token
    header = request.headers.get("Authorization")
    if check_bearer(header, expected):
        return True
    auth = request.authorization
    if auth is None or auth.type != "basic" or expected is None or not expected.reveal():
        return False
    return hmac.compare_digest((auth.password or "").encode(), expected.reveal().encode())


def require_api_token() -> None:
    """Raise 401 unless the request carries CCS_API_TOKEN."""
    if services().config.api_token is None:
        raise ApiError(401, "api_disabled", "CCS_API_TOKEN is not set, so the API is closed")
    if not has_api_token():
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <CCS_API_TOKEN>`")
