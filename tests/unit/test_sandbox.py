"""The local sandbox plan, its bwrap argv, the manifest key and refused-write messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.local.sandbox import (
    SandboxError,
    plan_sandbox,
    refused_write,
    refused_write_message,
    sandboxed,
)
from service.adapters.manifest.parse import parse_manifest
from service.domain.manifest import ManifestError, SandboxSpec

BASE = """\
version: 1
coder: {command: [python, tools/coder.py]}
test: {command: [python, -m, pytest, "{test}"]}
contexts:
  shop:
    components: [{name: one}]
"""


def fake_bwrap(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / "bwrap"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return str(bin_dir)


def test_the_manifest_key_is_on_by_default_off_with_false_and_adds_folders() -> None:
    assert parse_manifest(BASE).sandbox == SandboxSpec()
    assert parse_manifest(BASE + "sandbox: false\n").sandbox == SandboxSpec(enabled=False)
    spec = parse_manifest(BASE + "sandbox: {writable: [~/.m2, /opt/cache]}\n").sandbox
    assert spec == SandboxSpec(enabled=True, writable=("~/.m2", "/opt/cache"))


@pytest.mark.parametrize("body", ["sandbox: {writable: [relative/dir]}",
                                  "sandbox: {writable: ['~user/x']}",
                                  "sandbox: {writeable: [/x]}", "sandbox: yes please"])
def test_bad_sandbox_keys_are_rejected_with_their_line(body: str) -> None:
    with pytest.raises(ManifestError, match=r"\.github/ccs\.yml:7: sandbox"):
        parse_manifest(BASE + body + "\n")


def test_ccs_sandbox_0_then_the_manifest_then_bwrap_decide(tmp_path: Path) -> None:
    path = fake_bwrap(tmp_path)
    assert plan_sandbox(SandboxSpec(), {"PATH": path, "CCS_SANDBOX": "0"}).describe() == (
        "sandbox: off (CCS_SANDBOX=0)")
    assert not plan_sandbox(SandboxSpec(enabled=False), {"PATH": path}).enabled
    missing = plan_sandbox(SandboxSpec(), {"PATH": str(tmp_path / "empty")})
    assert not missing.enabled and "install the `bubblewrap` package" in missing.reason
    on = plan_sandbox(SandboxSpec(), {"PATH": path})
    assert on.enabled and on.bwrap == str(Path(path) / "bwrap")
    assert on.describe().startswith("sandbox: on (bubblewrap): children may write only")


def test_writable_folders_expand_home_and_must_exist(tmp_path: Path) -> None:
    env = {"PATH": fake_bwrap(tmp_path), "HOME": str(tmp_path)}
    (tmp_path / ".m2").mkdir()
    plan = plan_sandbox(SandboxSpec(writable=("~/.m2", str(tmp_path / "bin"))), env)
    assert plan.writable == ((tmp_path / ".m2").resolve(), (tmp_path / "bin").resolve())
    with pytest.raises(SandboxError, match="~/nope is not an existing folder; create it"):
        plan_sandbox(SandboxSpec(writable=("~/nope",)), env)


def test_the_wrapped_argv_binds_only_scratch_agent_state_and_extra_folders(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in (".claude", ".aider.tags.cache.v3", ".ssh"):
        (home / name).mkdir(parents=True)
    (home / ".codex").write_text("a file, not a folder")
    (home / ".claude.json").write_text("{}")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    plan = plan_sandbox(SandboxSpec(writable=(str(tmp_path),)),
                        {"PATH": fake_bwrap(tmp_path), "HOME": str(home)})
    argv = sandboxed(["python", "-V"], plan, scratch, home)
    assert argv[:8] == [plan.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    binds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bind"]
    assert binds == [str(scratch.resolve()), str((home / ".aider.tags.cache.v3").resolve()),
                     str((home / ".claude").resolve()),
                     str((home / ".claude.json").resolve()), str(tmp_path.resolve())]
    assert argv[-3:] == ["--", "python", "-V"]
    off = plan_sandbox(SandboxSpec(enabled=False), {})
    assert sandboxed(["python", "-V"], off, scratch, home) == ["python", "-V"]


@pytest.mark.parametrize(("output", "path"), [
    ("OSError: [Errno 30] Read-only file system: '/home/u/.bashrc'", "/home/u/.bashrc"),
    ("touch: cannot touch '/srv/x': Read-only file system", "/srv/x"),
    ("sh: 1: cannot create /srv/y: Read-only file system", "/srv/y"),
    ("bash: /srv/z: Read-only file system", "/srv/z"),
    ("npm ERR! Read-only file system", "(a path the output does not name)"),
    ("all good\n5 passed", None),
])
def test_refused_writes_are_found_in_the_output(output: str, path: str | None) -> None:
    assert refused_write("ccs: coder\n" + output + "\nmore") == path


def test_the_message_names_the_path_and_both_ways_out() -> None:
    message = refused_write_message("/home/u/.bashrc")
    assert "/home/u/.bashrc" in message and "Read-only file system" in message
    assert "sandbox: {writable: [...]}" in message
    assert "sandbox: false" in message and "CCS_SANDBOX=0" in message


def test_a_local_coder_never_gets_ccs_own_credentials(monkeypatch) -> None:
    from service.adapters.local.executor import child_environment

    monkeypatch.setenv("CCS_GITHUB_TOKEN", "ghp_" + "x" * 36)
    monkeypatch.setenv("CCS_WEBHOOK_SECRET", "hook")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "the agent's own key")
    env = child_environment()
    assert "CCS_GITHUB_TOKEN" not in env and "CCS_WEBHOOK_SECRET" not in env
    assert env["ANTHROPIC_API_KEY"] == "the agent's own key"  # the agent keeps its own
