"""GitHub webhook signatures: HMAC-SHA256 of the raw body in X-Hub-Signature-256."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="
_HEX_DIGEST_LENGTH = 64


def sign(secret: bytes, body: bytes) -> str:
    """Return the X-Hub-Signature-256 header value GitHub would send for `body`."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Return True only when `header` is the sha256 signature of `body` under `secret`."""
    if not secret or not header or not header.startswith(PREFIX):
        return False
    received = header[len(PREFIX):].strip().lower()
    if len(received) != _HEX_DIGEST_LENGTH or not received.isascii():
        return False
    # compare_digest keeps the comparison time independent of where the strings differ.
    return hmac.compare_digest(sign(secret, body)[len(PREFIX):], received)
