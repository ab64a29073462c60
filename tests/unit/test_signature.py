"""Webhook signatures, checked against GitHub's published test vector."""

from __future__ import annotations

import pytest

from service.web.signature import sign, verify_signature

# From GitHub's "Validating webhook deliveries" documentation.
SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_test_vector() -> None:
    assert sign(SECRET, BODY) == HEADER
    assert verify_signature(SECRET, BODY, HEADER)


def test_uppercase_hex_is_accepted() -> None:
    assert verify_signature(SECRET, BODY, "sha256=" + HEADER[7:].upper())


def test_tampered_body_fails() -> None:
    assert not verify_signature(SECRET, b"Hello, World?", HEADER)


def test_other_secret_fails() -> None:
    assert not verify_signature(b"another secret", BODY, HEADER)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
        HEADER[7:],
        HEADER[:-1],
        HEADER + "00",
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,
    ],
)
def test_missing_or_malformed_header_fails(header: str | None) -> None:
    assert not verify_signature(SECRET, BODY, header)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(b"", BODY, sign(b"", BODY))
