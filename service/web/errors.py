"""JSON errors everywhere: `{"error": {"code": "...", "message": "..."}}` with stable codes."""

from __future__ import annotations

import logging

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from service.adapters.github.client import GitHubError
from service.auth import AuthError
from service.orchestrator.errors import BadInput

log = logging.getLogger(__name__)

# Stable codes for the HTTP errors Flask raises itself.
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
              415: "unsupported_media_type", 422: "bad_input", 429: "too_many_requests",
              503: "unavailable"}


class ApiError(Exception):
    """An error answered as JSON with an HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """Return the JSON error body and status."""
    return jsonify({"error": {"code": code, "message": message}}), status


def register(app: Flask) -> None:
    """Answer every error of `app` as JSON."""
    @app.errorhandler(ApiError)
    def _api(error: ApiError):
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(AuthError)
    def _auth(error: AuthError):
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(BadInput)
    def _bad_input(error: BadInput):
        return error_response(error.status, error.code, str(error))

    @app.errorhandler(GitHubError)
    def _github(error: GitHubError):
        # GitHub's answer about the caller's input is a 4xx; GitHub failing is a 502.
        if error.status == 404:
            return error_response(404, "github_not_found", f"GitHub has no such repository "
                                  f"or ccs may not see it (check the App's installation or "
                                  f"the token's access): {error}")
        return error_response(502, "github_error", f"GitHub refused or failed: {error}")

    @app.errorhandler(requests.RequestException)
    def _unreachable(error: requests.RequestException):
        log.warning("GitHub unreachable: %s", type(error).__name__)
        response, status = error_response(503, "github_unreachable",
                                          "GitHub cannot be reached right now; try again later")
        response.headers["Retry-After"] = "30"
        return response, status

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        status = error.code or 500
        message = error.description or error.name
        if status == 413:
            message = (f"the request body is larger than the limit of "
                       f"{request.max_content_length} bytes (CCS_MAX_BODY_BYTES)")
        response, status = error_response(status, HTTP_CODES.get(status, "http_error"), message)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="ccs"'
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the service log")
