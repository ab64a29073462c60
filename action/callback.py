"""Deliver the result to the service: OIDC token, POST with bounded retries."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class DeliveryError(RuntimeError):
    """The result could not be delivered; the message says why (never a token)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, first delay (doubling), total budget, per-request timeout."""

    tries: int = 5
    delay: float = 2.0
    budget: float = 60.0
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """Read overrides from CCS_JOB_RETRY_TRIES/_DELAY/_BUDGET and CCS_JOB_HTTP_TIMEOUT."""
        env = os.environ if environ is None else environ
        default = cls()

        def number(name: str, fallback: float) -> float:
            try:
                value = float(env.get(name, ""))
            except ValueError:
                return fallback
            return value if value > 0 else fallback

        return cls(tries=int(number("CCS_JOB_RETRY_TRIES", default.tries)),
                   delay=number("CCS_JOB_RETRY_DELAY", default.delay),
                   budget=number("CCS_JOB_RETRY_BUDGET", default.budget),
                   timeout=number("CCS_JOB_HTTP_TIMEOUT", default.timeout))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would carry the Authorization header to the new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _check_url(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"refusing a non-HTTP URL: {url.split('?')[0]!r}")


@dataclass(frozen=True)
class Response:
    """An HTTP status and body."""

    status: int
    body: bytes


def http(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
         timeout: float) -> Response:
    """Send one request; HTTP errors come back as a Response, network errors raise OSError."""
    _check_url(url)
    # The scheme was checked above, so no file: or custom-scheme URL gets here.
    request = urllib.request.Request(url, data=body, headers=dict(headers),  # noqa: S310
                                     method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.read(1_000_000))
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read(10_000) if error.fp else b"")


def with_retries(send: Callable[[float], Response], policy: RetryPolicy, what: str,
                 log: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> Response:
    """Call `send(timeout)` until it answers non-retryably, within the policy's bounds."""
    started = clock()
    problem = "no attempt made"
    delay = policy.delay
    for number in range(1, policy.tries + 1):
        remaining = policy.budget - (clock() - started)
        if remaining <= 0:
            break
        try:
            response = send(min(policy.timeout, remaining))
        except (OSError, TimeoutError) as error:
            problem = f"{type(error).__name__}: {getattr(error, 'reason', None) or error}"
        else:
            if response.status not in RETRY_STATUSES:
                return response
            problem = f"HTTP {response.status}"
        if number == policy.tries:
            break
        if clock() - started + delay >= policy.budget:
            break
        log(f"{what} failed ({problem}); retrying in {delay:g} s")
        sleep(delay)
        delay *= 2
    raise DeliveryError(f"{what} failed after {number} tries in "
                        f"{clock() - started:.0f} s: {problem}")


def request_oidc_token(url: str, request_token: str, audience: str, policy: RetryPolicy,
                       log: Callable[[str], None]) -> str:
    """Return a GitHub Actions OIDC JWT for `audience`."""
    joiner = "&" if "?" in url else "?"
    full = f"{url}{joiner}audience={urllib.parse.quote(audience, safe='')}"
    headers = {"Authorization": f"bearer {request_token}", "Accept": "application/json"}
    response = with_retries(lambda timeout: http("GET", full, headers, None, timeout),
                            policy, "requesting the OIDC token", log)
    if response.status != 200:
        raise DeliveryError(f"requesting the OIDC token failed: HTTP {response.status}")
    try:
        value = json.loads(response.body)["value"]
    except (ValueError, KeyError, TypeError):
        raise DeliveryError("the OIDC token endpoint answered without a token") from None
    if not isinstance(value, str) or not value:
        raise DeliveryError("the OIDC token endpoint answered without a token")
    return value


def result_url(callback: str, child: str) -> str:
    """Return the callback endpoint for one child."""
    return f"{callback.rstrip('/')}/api/v1/children/{urllib.parse.quote(child, safe='')}/result"


def post_result(url: str, body: Mapping[str, Any], bearer: str, policy: RetryPolicy,
                log: Callable[[str], None]) -> str:
    """POST the result; return 'recorded' or 'already recorded' (409), else raise."""
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json",
               "Accept": "application/json", "User-Agent": "ccs-action"}
    response = with_retries(lambda timeout: http("POST", url, headers, data, timeout),
                            policy, "posting the result", log)
    if response.status == 409:
        return "already recorded"
    if 200 <= response.status < 300:
        return "recorded"
    detail = response.body[:300].decode("utf-8", errors="replace").strip()
    raise DeliveryError(f"posting the result was refused: HTTP {response.status} {detail}")
