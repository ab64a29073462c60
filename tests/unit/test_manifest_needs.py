"""The manifest's `needs` and `integration` (DESIGN §3b): what is accepted, what is refused."""

from __future__ import annotations

import textwrap

import pytest

from service.adapters.manifest.parse import parse_manifest
from service.domain.manifest import ManifestError

MANIFEST = """\
version: 1
coder:
  command: ["python", "tools/coder.py"]
test:
  command: ["python", "-m", "pytest", "-q", "{test}"]
verify:
  command: ["python", "-m", "pytest", "-q"]
contexts:
  accounts:
    components:
      - name: user_repository
        needs: [user]
      - name: user
        needs: NEEDS
      - name: session
"""


def manifest(needs: str = "[]", tail: str = "") -> str:
    return textwrap.dedent(MANIFEST).replace("NEEDS", needs) + tail


def rejected(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    return str(caught.value)


def test_needs_reach_the_resolved_components() -> None:
    parsed = parse_manifest(manifest("[session]"))
    resolved = {c.name: c for c in parsed.components("accounts")}
    assert resolved["user_repository"].needs == ("user",)
    assert resolved["user"].needs == ("session",)
    assert parsed.contexts["accounts"].needs()["session"] == ()
    assert parsed.integration is None


def test_a_cycle_is_refused_with_the_cycle_spelled_out_and_its_line() -> None:
    message = rejected(manifest("[user_repository]"))
    assert message.startswith(".github/ccs.yml:12: contexts.accounts.components[0].needs: ")
    assert "dependency cycle: user_repository needs user, user needs user_repository" in message


def test_an_unknown_need_is_refused_naming_what_the_context_has() -> None:
    message = rejected(manifest("[sesion]"))
    assert message.startswith(".github/ccs.yml:14: contexts.accounts.components[1].needs[0]: ")
    assert "user needs 'sesion', which is not a component of context 'accounts'" in message
    assert "it has: session, user, user_repository" in message


def test_a_need_must_be_a_list_of_names() -> None:
    assert "needs" in rejected(manifest("user"))


def test_integration_takes_its_attempts() -> None:
    parsed = parse_manifest(manifest(tail="integration: {attempts: 2}\n"))
    assert parsed.integration is not None and parsed.integration.attempts == 2
    assert "attempts" in rejected(manifest(tail="integration: {attempts: 0}\n"))
    assert "unknown key" in rejected(manifest(tail="integration: {rounds: 2}\n"))


def test_integration_without_verify_is_refused() -> None:
    text = manifest(tail="integration: {attempts: 2}\n").replace(
        'verify:\n  command: ["python", "-m", "pytest", "-q"]\n', "")
    message = rejected(text)
    assert "integration" in message and "add a `verify` command" in message
