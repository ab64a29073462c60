"""The tracking comment: marker, checklist, progress and the end result."""

from __future__ import annotations

from types import SimpleNamespace

from service.adapters.github.tracking import MAX_BODY, marker, render_tracking_comment


def session(**fields) -> SimpleNamespace:
    base = dict(id="0123456789", context="catalog", status="running",
                branch="ccs/catalog-0123456789", base_ref="main", base_sha="a" * 40,
                message="", pull_request_url=None)
    return SimpleNamespace(**{**base, **fields})


def child(component: str, status: str = "pending", **fields) -> SimpleNamespace:
    base = dict(component=component, status=status, kind="component", attempts=0,
                tests_passed=0, tests_failed=0, tests_errors=0, tests_skipped=0, run_url=None)
    return SimpleNamespace(**{**base, **fields})


def test_running_session_lists_each_component_with_progress() -> None:
    body = render_tracking_comment(session(), [
        child("isbn", "succeeded", attempts=2, tests_passed=5,
              run_url="https://github.com/o/r/actions/runs/1"),
        child("money", "running"),
        child("pricing"),
    ])

    assert body.startswith(marker("0123456789"))
    assert "**1 of 3 done**" in body
    assert ("- [x] **isbn** — ✅ succeeded · 2 attempts · 5/5 tests passed · "
            "[job](https://github.com/o/r/actions/runs/1)") in body
    assert "- [ ] **money** — 🔄 running" in body
    assert "Pull request" not in body and "/ccs retry" not in body


def test_complete_session_links_the_pull_request_and_verify() -> None:
    verify = child("_verify", "succeeded", kind="verify")
    body = render_tracking_comment(
        session(status="complete", pull_request_url="https://github.com/o/r/pull/7"),
        [child("isbn", "succeeded"), verify])

    assert "complete ✅" in body and "**1 of 1 done**" in body
    assert "Pull request: https://github.com/o/r/pull/7" in body
    assert "*verify on the merged tree* — ✅ succeeded" in body


def test_needs_attention_quotes_the_message_and_says_how_to_retry() -> None:
    message = "catalog: isbn: tests failed ```; ping @everyone"
    body = render_tracking_comment(session(status="needs_attention", message=message),
                                   [child("isbn", "failed")], retry_command="/ccs retry")

    assert "needs attention" in body and "comment `/ccs retry`" in body
    assert "@everyone" not in body and "@\u200beveryone" in body
    assert body.count("```") == 2  # the message cannot close the fence


def test_rendering_is_pure_and_bounded() -> None:
    children = [child(f"component_{n}", "succeeded" if n % 2 else "failed", run_url="u" * 100)
                for n in range(2000)]
    first = render_tracking_comment(session(), children)

    assert first == render_tracking_comment(session(), children)
    assert len(first) <= MAX_BODY + 1000
    assert "more (succeeded or not shown)" in first and "**2000 of 2000 done**" in first


def test_waves_get_a_heading_each_and_the_integration_its_line() -> None:
    body = render_tracking_comment(session(status="finalizing"), [
        child("order_book", "succeeded", spec={"wave": 1}),
        child("order", "succeeded", spec={"wave": 0}),
        child("loner", "succeeded", spec={"wave": 0}),
        child("_integration", "running", kind="integration", attempts=1),
        child("_verify", "failed", kind="verify"),
    ])
    lines = body.splitlines()
    first, second = lines.index("**Wave 1**"), lines.index("**Wave 2**")
    assert first < lines.index("- [x] **order** — ✅ succeeded") < second
    assert second < lines.index("- [x] **order_book** — ✅ succeeded")
    assert "- [ ] *integration on the merged tree (verify failed)* — 🔄 running · 1 round" in body
    assert body.index("*integration on the merged tree") < body.index("*verify on the merged")
    # No waves, no headings.
    plain = render_tracking_comment(session(), [child("isbn"), child("money")])
    assert "**Wave" not in plain
