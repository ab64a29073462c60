"""Per-child callback tokens for CCS_CALLBACK_AUTH=token: an HMAC of the child id."""

from __future__ import annotations

import base64
import hashlib
import hmac

# A purpose label, so the same key can never yield a token that is valid anywhere else.
_PURPOSE = b"ccs-child-callback-v1:"


def issue(secret: bytes, child_id: int | str) -> str:
    """Return the url-safe token that authorises result callbacks for `child_id`."""
    if not secret:
        raise ValueError("the callback token key is empty")
    digest = hmac.new(secret, _PURPOSE + str(child_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(secret: bytes, child_id: int | str, token: str | None) -> bool:
    """Return True when `token` is the one issued for `child_id` (constant-time compare)."""
    if not secret or not token or not isinstance(token, str) or not token.isascii():
        return False
    return hmac.compare_digest(issue(secret, child_id).encode(), token.encode())
