"""The local sandbox (DESIGN §8): children run in bubblewrap with a read-only filesystem."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service.adapters.db.models import SessionRow
from service.adapters.git_repo import GitRepository
from service.adapters.manifest.parse import parse_manifest
from service.domain.manifest import SandboxSpec

# Folders the agent CLIs keep their sign-in and session state in (only those that exist).
AGENT_STATE = (".claude", ".codex", ".gemini", ".openhands", ".cache", ".npm")
AGENT_STATE_PREFIXES = (".aider",)
# Claude Code keeps its settings in a file beside its folder.
AGENT_STATE_FILES = (".claude.json",)
READ_ONLY = "Read-only file system"
WAYS_OUT = ("add the folder to `sandbox: {writable: [...]}` in the manifest, or turn the "
            "sandbox off with `sandbox: false` or CCS_SANDBOX=0")
_REFUSED = (
    re.compile(r"Read-only file system: '([^'\n]+)'"),          # Python's OSError
    re.compile(r"'([^'\n]+)'\S*: Read-only file system"),         # coreutils: touch, cp, mkdir
    re.compile(r"(?:^|[\s:])(/[^\s:'\"]+): Read-only file system"),  # shells
)


class SandboxError(ValueError):
    """The sandbox cannot be set up as the manifest asks; the message says how to fix it."""


@dataclass(frozen=True)
class SandboxPlan:
    """Whether local children run sandboxed, why, and which extra folders they may write."""

    enabled: bool
    reason: str
    bwrap: str | None = None
    writable: tuple[Path, ...] = ()

    def describe(self) -> str:
        """Return the one line `ccs check` prints about the sandbox."""
        if not self.enabled:
            return f"sandbox: off ({self.reason})"
        extra = "".join(f", {path}" for path in self.writable)
        return (f"sandbox: on ({self.reason}): children may write only their checkout, their "
                f"temp folder and the agent CLIs' state folders{extra}")


def plan_sandbox(spec: SandboxSpec, environ: Mapping[str, str]) -> SandboxPlan:
    """Decide how local children run: CCS_SANDBOX=0, then the manifest, then bwrap on PATH."""
    if environ.get("CCS_SANDBOX", "").strip() == "0":
        return SandboxPlan(False, "CCS_SANDBOX=0")
    if not spec.enabled:
        return SandboxPlan(False, "the manifest says sandbox: false")
    bwrap = shutil.which("bwrap", path=environ.get("PATH"))
    if bwrap is None:
        return SandboxPlan(False, "bubblewrap is not installed; install the `bubblewrap` "
                           "package to run children sandboxed")
    home = Path(environ.get("HOME") or Path.home())
    writable = []
    for raw in spec.writable:
        path = home / raw[2:] if raw.startswith("~/") else home if raw == "~" else Path(raw)
        if not path.is_dir():
            raise SandboxError(f"sandbox.writable: {raw} is not an existing folder; create it "
                               "or remove it from the manifest")
        writable.append(path.resolve())
    return SandboxPlan(True, "bubblewrap", bwrap, tuple(writable))


def session_sandbox(repo: GitRepository, session: SessionRow,
                    environ: Mapping[str, str]) -> SandboxPlan:
    """Return the plan for a session's children, from its manifest at the base commit."""
    text = repo.read_file(session.base_sha, session.manifest_path)
    spec = parse_manifest(text, session.manifest_path).sandbox if text else SandboxSpec()
    return plan_sandbox(spec, environ)


def agent_state_dirs(home: Path) -> list[Path]:
    """Return the agent CLIs' state folders (and files) that exist under `home`."""
    try:
        names = sorted(os.listdir(home))
    except OSError:
        return []
    folders = [home / name for name in names
               if (name in AGENT_STATE or name.startswith(AGENT_STATE_PREFIXES))
               and (home / name).is_dir()]
    return folders + [home / name for name in names
                      if name in AGENT_STATE_FILES and (home / name).is_file()]


def sandboxed(argv: list[str], plan: SandboxPlan, scratch: Path, home: Path) -> list[str]:
    """Return `argv` wrapped so that only `scratch` and the allowed folders are writable."""
    if not plan.enabled or plan.bwrap is None:
        return argv
    # No --die-with-parent: bwrap dies at once on SIGTERM and would take the runner with it
    # before it reports. No --new-session: the executor already gives the sandbox a session
    # of its own (no terminal to inject into) and signals that whole group.
    return [*_bwrap(plan.bwrap, [scratch], plan, home), "--", *argv]


def command_jail(plan: SandboxPlan, writable: list[Path], home: Path) -> tuple[str, ...]:
    """Return the argv prefix that runs one command of a runner that is outside the sandbox.

    Only `writable` (the checkout, its temp folder, the folder for the JUnit report and the
    usage file) and the allowed folders can be written. Each command gets a process
    namespace of its own that ends with it, so nothing it started outlives it, not even
    what left its process group; and it dies with ccs.
    """
    if not plan.enabled or plan.bwrap is None:
        return ()
    return (*_bwrap(plan.bwrap, writable, plan, home), "--unshare-pid", "--die-with-parent",
            "--")


def _bwrap(bwrap: str, writable: list[Path], plan: SandboxPlan, home: Path) -> list[str]:
    wrapped = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in (*writable, *agent_state_dirs(home), *plan.writable):
        resolved = str(Path(folder).resolve())
        wrapped += ["--bind", resolved, resolved]
    return wrapped


def refused_write(output: str) -> str | None:
    """Return the path of the first write the sandbox refused in `output`, if any."""
    for line in output.splitlines():
        if READ_ONLY not in line:
            continue
        for pattern in _REFUSED:
            match = pattern.search(line)
            if match:
                return match.group(1)
        return "(a path the output does not name)"
    return None


def refused_write_message(path: str) -> str:
    """Return what a child's message says when the sandbox refused one of its writes."""
    return f"the sandbox refused a write to {path} ({READ_ONLY}): {WAYS_OUT}"
