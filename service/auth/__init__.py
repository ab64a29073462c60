"""Authentication of callers: Actions OIDC tokens, per-child callback tokens, the API token."""

from __future__ import annotations


class AuthError(Exception):
    """A request is not authenticated (401) or not allowed for this resource (403)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"AuthError({self.status}, {self.code!r}, {self.message!r})"


__all__ = ["AuthError"]
