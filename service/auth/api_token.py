"""The operator's API token (CCS_API_TOKEN), sent as `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac

from service.config import Secret


def bearer_token(header: str | None) -> str | None:
    """Return the token of a `Bearer <token>` Authorization header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def check_bearer(header: str | None, expected: Secret | None) -> bool:
    """Return True when `header` carries exactly the expected token (constant-time compare)."""
    token = bearer_token(header)
    if token is None or expected is None or not expected.reveal():
        return False
    return hmac.compare_digest(token.encode("utf-8"), expected.reveal().encode("utf-8"))
