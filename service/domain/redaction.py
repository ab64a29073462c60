"""Mask secrets in text that ccs stores or posts, and allow only https: links (DESIGN §8)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 6

# Token shapes, each anchored so that ordinary words and hex shas never match: a known
# prefix followed by enough token characters, not glued to a longer identifier.
_TOKEN_SHAPES = (
    r"gh[pousr]_[A-Za-z0-9]{20,}",                      # GitHub classic tokens
    r"github_pat_[A-Za-z0-9_]{22,}",                    # GitHub fine-grained tokens
    r"sk-ant-[A-Za-z0-9_\-]{16,}",                      # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",  # OpenAI
    r"AIza[0-9A-Za-z_\-]{35}",                          # Google API keys
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
)
_TOKENS = re.compile(r"(?<![A-Za-z0-9_\-])(?:" + "|".join(_TOKEN_SHAPES) + r")")
# `Bearer` keeps its word, so a reader still sees that a credential was there.
_BEARER = re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*", re.IGNORECASE)
# Userinfo in any URL scheme: scheme://user:password@host keeps the user, masks the password.
_URL_PASSWORD = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:]*:)[^\s/@]+(@)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with configured secrets and token-shaped strings masked."""
    if not text:
        return text
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH},
                         key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\1{MASK}\2", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _TOKENS.sub(MASK, text)


def safe_link(url: str | None) -> str | None:
    """Return `url` when it is an https: URL with a host and no credentials, else None."""
    if not isinstance(url, str) or not url or any(ord(ch) < 33 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        return None
    return url
