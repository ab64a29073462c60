"""Result delivery in action.callback: retry policy, status handling, OIDC token."""

from __future__ import annotations

import pytest

from action.callback import (
    DeliveryError,
    Response,
    RetryPolicy,
    post_result,
    request_oidc_token,
    result_url,
    with_retries,
)
from tests.fakes.actions_env import CallbackServer, OidcServer

QUICK = RetryPolicy(tries=4, delay=0.01, budget=5, timeout=1)


def scripted(*answers):
    """Return a send() that plays `answers` (a Response or an exception) in order."""
    calls = []

    def send(timeout: float) -> Response:
        calls.append(timeout)
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return send, calls


def test_retries_connection_errors_and_5xx_then_returns_the_answer() -> None:
    sleeps: list[float] = []
    send, calls = scripted(ConnectionRefusedError(), Response(503, b""), Response(429, b""),
                           Response(201, b"{}"))
    response = with_retries(send, QUICK, "posting", lambda _m: None, sleeps.append)
    assert response.status == 201 and len(calls) == 4
    assert sleeps == [0.01, 0.02, 0.04]  # exponential backoff


def test_gives_up_after_the_tries_saying_why() -> None:
    send, calls = scripted(*[Response(500, b"")] * 4)
    with pytest.raises(DeliveryError, match=r"posting failed after 4 tries .*HTTP 500"):
        with_retries(send, QUICK, "posting", lambda _m: None, lambda _s: None)
    assert len(calls) == 4


def test_gives_up_when_the_budget_would_be_exceeded() -> None:
    now = [0.0]
    policy = RetryPolicy(tries=10, delay=3, budget=5, timeout=1)
    send, calls = scripted(*[TimeoutError("timed out")] * 10)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(DeliveryError, match="after 2 tries in 3 s: TimeoutError"):
        with_retries(send, policy, "posting", lambda _m: None, sleep, lambda: now[0])
    # Tried at 0 s and 3 s; waiting 6 s more would pass the 5 s budget.
    assert len(calls) == 2 and now[0] == 3


def test_other_4xx_is_not_retried() -> None:
    send, calls = scripted(Response(403, b"nope"))
    assert with_retries(send, QUICK, "posting", lambda _m: None).status == 403
    assert len(calls) == 1


def test_policy_reads_env_overrides() -> None:
    policy = RetryPolicy.from_env({"CCS_JOB_RETRY_TRIES": "2", "CCS_JOB_RETRY_DELAY": "0.5",
                                   "CCS_JOB_RETRY_BUDGET": "bad", "CCS_JOB_HTTP_TIMEOUT": "-1"})
    assert policy == RetryPolicy(tries=2, delay=0.5, budget=60, timeout=10)


def test_result_url_quotes_the_child_id() -> None:
    assert result_url("https://ccs.example/", "a/b") == (
        "https://ccs.example/api/v1/children/a%2Fb/result")


def test_post_result_statuses() -> None:
    with CallbackServer([201, 409, 422]) as server:
        url = result_url(server.url, "c1")
        assert post_result(url, {"status": "failed"}, "t", QUICK, print) == "recorded"
        assert post_result(url, {"status": "failed"}, "t", QUICK, print) == "already recorded"
        with pytest.raises(DeliveryError, match="refused: HTTP 422"):
            post_result(url, {"status": "failed"}, "t", QUICK, print)
    assert server.requests[0].headers["authorization"] == "Bearer t"
    assert server.requests[0].json() == {"status": "failed"}


def test_non_http_urls_are_refused() -> None:
    with pytest.raises(DeliveryError, match="non-HTTP URL"):
        post_result("file:///etc/passwd", {}, "t", QUICK, print)


def test_oidc_token_is_requested_for_the_audience() -> None:
    with OidcServer() as oidc:
        token = request_oidc_token(f"{oidc.url}/token?api-version=2.0", oidc.request_token,
                                   "https://ccs.example", QUICK, print)
        assert token == OidcServer.token_for("https://ccs.example")
        assert oidc.requests[0].query == {"api-version": ["2.0"],
                                          "audience": ["https://ccs.example"]}
        with pytest.raises(DeliveryError, match="HTTP 401"):
            request_oidc_token(f"{oidc.url}/token", "wrong", "x", QUICK, print)
