"""The `/ccs …` comment grammar and the commands it produces."""

from __future__ import annotations

import pytest

from service.domain.commands import (
    HELP_TEXT,
    MAX_COMMANDS_PER_COMMENT,
    CancelSession,
    ParsedCommand,
    RetrySession,
    ShowHelp,
    ShowStatus,
    StartSession,
    context_from_label,
    parse_comment,
)


def only(body: str, prefix: str = "/ccs") -> ParsedCommand:
    """Return the single command in `body`."""
    parsed = parse_comment(body, prefix)
    assert len(parsed) == 1, parsed
    return parsed[0]


def test_implement_a_context() -> None:
    parsed = only("/ccs implement accounts")
    assert (parsed.verb, parsed.context, parsed.components, parsed.base) == (
        "implement", "accounts", (), None)
    assert parsed.reason is None and parsed.line == 1


def test_implement_components_and_base() -> None:
    parsed = only("/ccs implement accounts user_repository password_hasher --base release/1.2")
    assert parsed.components == ("user_repository", "password_hasher")
    assert parsed.base == "release/1.2"


@pytest.mark.parametrize(
    "text",
    ["/ccs implement accounts a,b --base=main", "/ccs implement accounts a, b a --base main"],
)
def test_implement_accepts_commas_equals_and_drops_duplicates(text: str) -> None:
    parsed = only(text)
    assert parsed.components == ("a", "b")
    assert parsed.base == "main"


def test_leading_blanks_and_crlf_are_fine() -> None:
    parsed = only("Please:\r\n   \t/ccs   implement   accounts  \r\nthanks")
    assert parsed.context == "accounts" and parsed.line == 2


@pytest.mark.parametrize("verb", ["status", "retry", "cancel", "help", "STATUS"])
def test_simple_verbs(verb: str) -> None:
    parsed = only(f"/ccs {verb}")
    assert parsed.verb == verb.lower()
    assert parsed.reason is None


def test_verbs_take_an_optional_session_id() -> None:
    assert only("/ccs retry 0123456789").session_id == "0123456789"
    assert only("/ccs cancel abcdefabcd").session_id == "abcdefabcd"
    assert only("/ccs status").session_id is None


def test_bare_prefix_asks_for_help() -> None:
    parsed = only("/ccs")
    assert parsed.verb == "help" and parsed.reason is None


def test_multiple_commands_in_one_comment() -> None:
    parsed = parse_comment("/ccs implement accounts\nsome prose\n/ccs status\n")
    assert [(p.line, p.verb) for p in parsed] == [(1, "implement"), (3, "status")]


def test_commands_per_comment_are_capped() -> None:
    assert len(parse_comment("/ccs status\n" * 50)) == MAX_COMMANDS_PER_COMMENT


@pytest.mark.parametrize(
    "body",
    [
        "```\n/ccs implement accounts\n```",
        "```bash\n/ccs implement accounts\n```",
        "~~~ text\n/ccs implement accounts\n~~~",
        "  ```\n  /ccs implement accounts\n  ```",
        "    ````\n/ccs implement accounts\n```\n````",
        "```\nnever closed\n/ccs implement accounts",
        "> /ccs implement accounts",
        "  > /ccs implement accounts",
        ">> /ccs implement accounts",
        "/ccsfoo implement accounts",
        "/ccs-bot implement accounts",
        "please run /ccs implement accounts",
        "`/ccs implement accounts`",
        "",
    ],
)
def test_not_a_command(body: str) -> None:
    assert parse_comment(body) == []


def test_command_after_a_closed_fence_counts() -> None:
    body = "```\n/ccs cancel\n```\n/ccs implement accounts\n~~~\n/ccs retry\n~~~"
    assert [p.verb for p in parse_comment(body)] == ["implement"]


def test_tilde_fence_is_not_closed_by_backticks() -> None:
    assert parse_comment("~~~\n```\n/ccs retry\n~~~") == []


def test_backtick_line_with_backticks_in_info_is_not_a_fence() -> None:
    assert [p.verb for p in parse_comment("``` x ` y\n/ccs status")] == ["status"]


def test_prefix_is_configurable() -> None:
    assert only("/bot implement accounts", prefix="/bot").context == "accounts"
    assert parse_comment("/ccs implement accounts", prefix="/bot") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/ccs implement a;rm -rf", "not allowed"),
        ("/ccs implement accounts $(reboot)", "not allowed"),
        ("/ccs implement Accounts", "not allowed"),
        ("/ccs implement", "needs a context"),
        ("/ccs implement accounts --base", "needs a branch"),
        ("/ccs implement accounts --base -x", "not valid"),
        ("/ccs implement accounts --base a..b", "not valid"),
        ("/ccs implement accounts --base main --base dev", "twice"),
        ("/ccs implement accounts --force", "not an option"),
        ("/ccs implement accounts " + "a" * 200, "longer than"),
        ("/ccs deploy", "not a ccs command"),
        ("/ccs retry 12", "not a ccs session id"),
        ("/ccs status a b", "at most one"),
    ],
)
def test_bad_input_becomes_help_with_a_reason(text: str, fragment: str) -> None:
    parsed = only(text)
    assert parsed.verb == "help"
    assert parsed.reason is not None and fragment in parsed.reason


def test_to_command_attaches_origin() -> None:
    where = {"repository": "o/r", "issue": 7, "requested_by": "octocat"}
    start = only("/ccs implement accounts a --base dev").to_command(**where)
    assert start == StartSession(repository="o/r", context="accounts", components=("a",),
                                 base="dev", issue=7, requested_by="octocat", source="comment")
    assert only("/ccs retry").to_command(**where) == RetrySession(
        repository="o/r", issue=7, requested_by="octocat", source="comment")
    assert isinstance(only("/ccs cancel").to_command(**where), CancelSession)
    assert isinstance(only("/ccs status").to_command(**where), ShowStatus)
    shown = only("/ccs nope").to_command(**where)
    assert isinstance(shown, ShowHelp) and shown.reason and shown.issue == 7


def test_commands_are_frozen() -> None:
    command = StartSession(repository="o/r", context="accounts")
    with pytest.raises(AttributeError):
        command.context = "other"  # type: ignore[misc]


def test_help_text_lists_every_command() -> None:
    for verb in ("implement", "status", "retry", "cancel", "help"):
        assert f"/ccs {verb}" in HELP_TEXT


@pytest.mark.parametrize(
    ("label", "context"),
    [("ccs:accounts", "accounts"), ("bug", None), ("ccs:", None), ("ccs:Bad Name", None)],
)
def test_context_from_label(label: str, context: str | None) -> None:
    assert context_from_label(label) == context
