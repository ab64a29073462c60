"""Errors the orchestrator raises to its callers (CLI exit 2, HTTP 4xx)."""

from __future__ import annotations


class BadInput(ValueError):
    """The request cannot be run as given; nothing was started. `code` is stable for APIs."""

    def __init__(self, message: str, code: str = "bad_input", status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class UnknownSession(BadInput):
    """No such session in this repository."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="not_found", status=404)


class SessionBusy(BadInput):
    """The session is still running; the request must wait until it rests."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="session_busy", status=409)
