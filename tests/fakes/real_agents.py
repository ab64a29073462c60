"""Run the real, pinned agent CLIs in a cage: no API key, a temporary HOME, no network.

The CLIs are installed by `.ci/install-agents` into `CCS_REAL_AGENTS_DIR` (default
`~/.cache/ccs-agents`): the npm ones under `npm/node_modules/.bin/`, each Python one in its
own venv `<program>/bin/`. `run_caged` never hands a CLI a key (with a key they wait for
the model API), gives it a fresh HOME so nothing lands in `~`, runs it in a network
namespace of its own when `unshare` allows (so nothing leaves the machine even if a CLI
phones home), and kills its whole process group at the timeout (codex keeps retrying).

    python -m tests.fakes.real_agents_record    # re-record tests/data/agents/ from them
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = ROOT / ".ci" / "agent-versions"
RECORDINGS = ROOT / "tests" / "data" / "agents"
# Stand for a run's temporary folder (home/, work/, prompt.md) and for the install folder
# in recorded text.
TMP_MARK, AGENTS_MARK = "$TMP", "$AGENTS"


@dataclass(frozen=True)
class Pin:
    """One pinned agent CLI: its program, registry, package and version."""

    program: str
    registry: str
    package: str
    version: str


@dataclass(frozen=True)
class Outcome:
    """What a caged CLI did: exit code (None when killed at the timeout) and output."""

    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        """Tell whether the CLI was still running at the timeout."""
        return self.exit_code is None


@cache
def pins() -> dict[str, Pin]:
    """Read the pinned versions from .ci/agent-versions."""
    found: dict[str, Pin] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            found[fields[0]] = Pin(*fields)
    return found


# Read when this module is imported: the suite's autouse fixture then gives every test a
# temporary HOME and drops CCS_* variables, which would hide the installed CLIs.
_CONFIGURED_DIR = os.environ.get("CCS_REAL_AGENTS_DIR")
_DEFAULT_DIR = Path.home() / ".cache" / "ccs-agents"


def agents_dir() -> Path:
    """Return where .ci/install-agents puts the CLIs (CCS_REAL_AGENTS_DIR, as first seen)."""
    return Path(_CONFIGURED_DIR) if _CONFIGURED_DIR else _DEFAULT_DIR


def real_program(program: str) -> Path | None:
    """Return the installed real CLI for `program`, or None when it is not installed."""
    pin = pins()[program]
    base = agents_dir()
    path = base / "npm/node_modules/.bin" / program if pin.registry == "npm" else (
        base / program / "bin" / program
    )
    return path if os.access(path, os.X_OK) else None


def missing_reason(program: str) -> str:
    """Say why the real `program` is not there and how to install it."""
    pin = pins()[program]
    why = ""
    marker = agents_dir() / f"{program}.unavailable"
    if marker.is_file():
        why = f" ({marker.read_text().strip()})"
    return (
        f"real {program} {pin.version} is not installed in {agents_dir()}{why}; "
        "run .ci/install-agents (CCS_REAL_AGENTS_DIR picks the folder)"
    )


def caged_env(home: Path) -> dict[str, str]:
    """Build an environment with no credentials: PATH, a temp HOME, a locale, no keys."""
    node_dir = Path(shutil.which("node") or "/usr/bin/node").parent
    return {
        "PATH": os.pathsep.join(dict.fromkeys([str(node_dir), "/usr/local/bin", "/usr/bin"])),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        # aider's litellm would fetch a price list at import; the bundled one is enough.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


@cache
def _netns_prefix() -> tuple[str, ...]:
    """Return the argv prefix that gives a child only its own loopback, or () if impossible."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    probe = [unshare, "-n", "--", "true"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return ()
    # Bring loopback up so a CLI's localhost listener (aider's sign-in page) can bind.
    return (unshare, "-n", "--", "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh")


def run_caged(
    argv: list[str],
    *,
    cwd: Path,
    home: Path,
    stdin: str | None = None,
    timeout: float = 20,
    extra_env: dict[str, str] | None = None,
) -> Outcome:
    """Run `argv` without keys or network; kill its process group after `timeout` seconds.

    `extra_env` adds variables (a preset's `LLM_MODEL`, say); a key among them is refused.
    """
    env = caged_env(home)
    for name, value in (extra_env or {}).items():
        if re.search(r"KEY|TOKEN|SECRET", name):
            raise ValueError(f"{name} looks like a credential: never hand a real CLI a key")
        env[name] = value
    process = subprocess.Popen(
        [*_netns_prefix(), *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
        return Outcome(process.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return Outcome(None, stdout, stderr)


def scrub(text: str, scratch: Path) -> str:
    """Replace this run's temporary folder and the install folder in `text` by placeholders."""
    return text.replace(str(scratch), TMP_MARK).replace(str(agents_dir()), AGENTS_MARK)


def make_scratch(root: Path) -> tuple[Path, Path]:
    """Make `home/` and a git checkout `work/` under `root`; return them."""
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    return home, work


def recording(program: str, case: str) -> dict[str, object]:
    """Return a recorded run of the pinned real `program` (tests/data/agents/)."""
    folder = RECORDINGS / f"{program}-{pins()[program].version}"
    return json.loads((folder / f"{case}.json").read_text())
