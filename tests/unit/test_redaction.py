"""redact() masks secrets and token shapes, and leaves ordinary text alone; safe_link()."""

from __future__ import annotations

import pytest

from service.domain.redaction import MASK, redact, safe_link

GITHUB_CLASSIC = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZXBvOm8vcjpyZWYifQ."
       "c2lnbmF0dXJlLXBhcnQtaGVyZQ")


@pytest.mark.parametrize("token", [
    GITHUB_CLASSIC,
    "gho_" + "x" * 36,
    "ghu_" + "Y7" * 18,
    "ghs_" + "0a" * 18,
    "ghr_" + "Zz9" * 12,
    # Built here so that no token-shaped literal sits in the repository.
    "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
    "sk-ant-api03-" + "q" * 40,
    "sk-" + "A1b2" * 12,
    "sk-proj-" + "abc_DEF-123" * 4,
    "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"[:35],
    JWT,
])
def test_token_shapes_are_masked(token: str) -> None:
    text = f"the coder printed {token} and went on"
    masked = redact(text)
    assert token not in masked
    assert masked == f"the coder printed {MASK} and went on"


def test_token_shapes_are_masked_at_line_edges_and_in_json() -> None:
    text = f'{GITHUB_CLASSIC}\n{{"token": "{GITHUB_CLASSIC}"}}\nAuthorization={JWT}'
    assert redact(text) == f'{MASK}\n{{"token": "{MASK}"}}\nAuthorization={MASK}'


def test_configured_secrets_are_masked_wherever_they_appear() -> None:
    secrets = ["webhook-secret-42", "hunter2hunter2"]
    text = "signed with webhook-secret-42; password=hunter2hunter2!"
    assert redact(text, secrets) == f"signed with {MASK}; password={MASK}!"


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert redact("x abcdefgh-longer y", ["abcdefgh", "abcdefgh-longer"]) == f"x {MASK} y"


def test_short_and_empty_configured_secrets_are_ignored() -> None:
    # Masking "a" or "12345" would shred every message; such values are not secrets.
    assert redact("a test with 12345 in it", ["", "a", "12345"]) == "a test with 12345 in it"


def test_bearer_credentials_keep_the_word_and_lose_the_value() -> None:
    assert redact("Authorization: Bearer abc.def-ghi_jkl") == f"Authorization: Bearer {MASK}"
    assert redact("authorization: bearer QWERTYUIOPASDF==") == f"authorization: bearer {MASK}"


def test_passwords_in_urls_are_masked_and_the_user_kept() -> None:
    assert (redact("fetch https://x-access-token:s3cr3t@github.com/o/r.git failed")
            == f"fetch https://x-access-token:{MASK}@github.com/o/r.git failed")
    assert redact("redis://:pw123456@localhost:6379/0") == f"redis://:{MASK}@localhost:6379/0"


@pytest.mark.parametrize("text", [
    "tests passed on attempt 2 of 3: 5 passed",
    "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 is on ccs-child/abc/isbn",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ask-them; risk-assessment; task-runner-configuration-file-name",
    "desk-lamp sk-short ghp_short gho_ ghs_tooShort AIzaShort",
    "the eyJ prefix alone, eyJhbGci.eyJzdWIi.x is too short to be a token",
    "my_ghp_" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ is glued to an identifier",
    "Bearer token required",
    "see https://github.com/o/r/actions/runs/123 and http://localhost:8000/x",
    "user@example.com wrote src/accounts/user_repository.py",
    "",
])
def test_ordinary_text_and_near_misses_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    once = redact(f"{GITHUB_CLASSIC} Bearer abcdefghij https://u:p4ssword@h/", ["abcdefghij"])
    assert redact(once, ["abcdefghij"]) == once


@pytest.mark.parametrize("url", [
    "https://github.com/o/r/actions/runs/1",
    "https://ghes.example.com:8443/o/r/actions/runs/1/job/2",
    "HTTPS://github.com/o/r",
])
def test_safe_link_keeps_https_urls(url: str) -> None:
    assert safe_link(url) == url


@pytest.mark.parametrize("url", [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "http://github.com/o/r",
    "https://",
    "https:///path-only",
    "https://user:pass@github.com/o/r",
    "https://github.com/o/r\njavascript:alert(1)",
    "https://github.com/a b",
    "//github.com/o/r",
    "ftp://github.com/o/r",
    "",
    None,
])
def test_safe_link_refuses_everything_else(url: str | None) -> None:
    assert safe_link(url) is None
