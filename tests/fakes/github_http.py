"""The HTTP side of the test GitHub: auth, fault injection, recording, schema checks."""

from __future__ import annotations

import fnmatch
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt
from flask import Flask, Response, g, request

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub
    from tests.fakes.github_state import User

DOCS = "https://docs.github.com/rest"
# Path parameters that may hold slashes.
_SLASHED = {"ref", "path", "branch"}
# Routes an app's JWT may call (everything else wants a token).
_APP_ROUTES = {"/app/installations/{installation_id}/access_tokens",
               "/repos/{owner}/{repo}/installation"}


@dataclass(frozen=True)
class Call:
    """One request the fake answered."""

    method: str
    path: str
    query: dict[str, str]
    json_body: Any
    status: int


@dataclass
class Fault:
    """A scripted failure for the next matching requests."""

    method: str
    pattern: str | re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request."""
        if self.method not in ("*", method):
            return False
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.pattern)


class ApiError(Exception):
    """Answer the request with a GitHub-style error."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        """Carry the status, message and optional validation errors."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def error_body(status: int, message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    """Return a body shaped like GitHub's errors."""
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """Return a JSON response."""
    text = "" if body is None else json.dumps(body)
    return Response(text, status=status, headers=headers or {},
                    mimetype="application/json")


def flask_rule(template: str) -> str:
    """Turn an OpenAPI path template into a Flask rule."""
    return re.sub(
        r"\{(\w+)\}",
        lambda m: f"<path:{m[1]}>" if m[1] in _SLASHED else f"<{m[1]}>",
        template,
    )


class HttpLayer:
    """Build the Flask app that serves a FakeGitHub's routes."""

    def __init__(self, gh: FakeGitHub) -> None:
        """Serve `gh` (its state, options, records)."""
        self.gh = gh
        self.app = Flask("fake_github")
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        self.app.register_error_handler(ApiError, self._api_error)
        self.app.register_error_handler(404, lambda _e: json_response(
            error_body(404, "Not Found"), 404))
        self.app.register_error_handler(405, lambda _e: json_response(
            error_body(404, "Not Found"), 404))

    def route(self, method: str, template: str) -> Callable[[Callable[..., Any]], Any]:
        """Register a view for `method template`; the template names the OpenAPI operation."""
        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            self.app.add_url_rule(flask_rule(template), endpoint=f"{method} {template}",
                                  view_func=view, methods=[method])
            return view
        return register

    @staticmethod
    def template() -> str | None:
        """Return the OpenAPI path template of the current request."""
        endpoint = request.endpoint or ""
        return endpoint.split(" ", 1)[1] if " " in endpoint else None

    def _api_error(self, error: ApiError) -> Response:
        """Turn an ApiError into its response."""
        return json_response(error_body(error.status, error.message, error.errors),
                             error.status)

    def _before(self) -> Response | None:
        """Stop at a hold point, apply faults, authenticate, and check the request body."""
        g.json_body = request.get_json(silent=True) if request.data else None
        g.hold = self.gh.holds.take(request.method, request.path)
        if g.hold is not None:
            g.hold.arrived.set()
            g.hold.released.wait()
        fault = self.gh._take_fault(request.method, request.path)
        if fault is not None:
            body = fault.body if fault.body is not None else error_body(
                fault.status, "Injected failure")
            return json_response(body, fault.status, fault.headers)
        template = self.template()
        if request.path.startswith(("/_oidc/", "/_git/", "/_logs/")):
            return None  # the OIDC issuer, git over HTTP and log links check their own
        g.user = self._authenticate(template)
        if template and self.gh.strict and g.json_body is not None:
            self.gh._schema_problems(
                self.gh.checker.check_request(template, request.method, g.json_body))
        return None

    def _authenticate(self, template: str | None) -> User:
        """Return the caller, or raise 401 as GitHub does."""
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise ApiError(401, "Requires authentication")
        if credential.count(".") == 2 and template in _APP_ROUTES:
            g.app_id = self._verify_app_jwt(credential)
            return self.gh._app_user(g.app_id)
        token = self.gh._tokens.get(credential.strip())
        if token is None or (token.expires_at is not None and token.expires_at < time.time()):
            raise ApiError(401, "Bad credentials")
        if template in _APP_ROUTES:
            raise ApiError(401, "A JSON web token could not be decoded")
        g.token = token
        return self.gh._token_user(token)

    def _verify_app_jwt(self, credential: str) -> int:
        """Verify an app JWT (RS256 by the registered key, iss = app id); return the app id."""
        try:
            claimed = jwt.decode(credential, options={"verify_signature": False})
            app = self.gh._apps.get(int(claimed.get("iss", 0)))
            if app is None:
                raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
            claims = jwt.decode(credential, app.public_key_pem, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=60)
        except (jwt.PyJWTError, ValueError) as problem:
            raise ApiError(401, f"A JSON web token could not be decoded: {problem}") from None
        if claims["exp"] - claims["iat"] > 660:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        return app.id

    def _after(self, response: Response) -> Response:
        """Add rate-limit headers, record the call, check the response body."""
        response.headers.setdefault("X-RateLimit-Limit", "5000")
        response.headers.setdefault("X-RateLimit-Remaining", "4999")
        response.headers.setdefault("X-RateLimit-Reset", str(int(time.time()) + 3600))
        response.headers.setdefault("X-RateLimit-Used", "1")
        response.headers.setdefault("X-RateLimit-Resource", "core")
        response.headers.setdefault("X-GitHub-Request-Id", "FAKE:0001")
        body = getattr(g, "json_body", None)
        self.gh._record(Call(request.method, request.path, dict(request.args), body,
                             response.status_code))
        template = self.template()
        if template and self.gh.strict and not request.path.startswith("/_oidc/"):
            text = response.get_data(as_text=True)
            parsed = json.loads(text) if text else None
            self.gh._schema_problems(self.gh.checker.check_response(
                template, request.method, response.status_code, parsed))
        if getattr(g, "hold", None) is not None:
            g.hold.done.set()
        return response
