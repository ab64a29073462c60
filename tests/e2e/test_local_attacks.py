"""Coders that attack the user's machine through `ccs run` (issue #10), and what ccs does.

Each test builds a real repository whose coder misbehaves in one way, runs `ccs run`
through `python -m service.cli` and checks what is left afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.fakes.cli import body_of, ccs, children, coder_repo
from tests.fakes.local import git

pytestmark = pytest.mark.slow

WRITE_OWN_FILES = """
for var, text in (("CCS_IMPLEMENTATION", "VALUE = 1\\n"),
                  ("CCS_TEST", "def test_value():\\n    assert True\\n")):
    path = pathlib.Path(os.environ[var])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
"""
NO_SANDBOX = {"CCS_SANDBOX": "0"}


def project(tmp_path: Path, coder: str, components: tuple[str, ...] = ("one",)) -> Path:
    """Make a repository whose coder runs `coder` (Python) and then writes its own files."""
    source = "import os, pathlib, subprocess, sys\n" + textwrap.dedent(coder) + WRITE_OWN_FILES
    return coder_repo(tmp_path / "repo", source, dict.fromkeys(components, 0),
                      description="attacking coders")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


@pytest.fixture
def bwrap() -> None:
    if shutil.which("bwrap") is None:
        skip_or_fail("bubblewrap is not installed (Debian package `bubblewrap`); the "
                     "sandbox tests need it")


# Symlinks ----------------------------------------------------------------------------


def test_a_committed_symlink_at_an_implementation_path_writes_nothing_outside(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched\n")
    repo = project(tmp_path, "")
    link = repo / "src" / "shop" / "one.py"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "a link where the implementation goes")

    # Without the sandbox, so that only ccs's own refusal stands between coder and file.
    done = ccs(repo, "run", "shop", "--json", env=NO_SANDBOX)
    assert done.returncode == 1, done.stderr
    body = body_of(done)
    assert body["status"] != "complete"
    assert "src/shop/one.py is a symbolic link" in children(body)["one"]["message"]
    assert outside.read_text() == "untouched\n"


def test_a_coder_that_links_its_file_to_etc_passwd_fails_validation(tmp_path: Path) -> None:
    repo = project(tmp_path, "", components=("one", "two"))
    coder = repo / "tools" / "coder.py"
    coder.write_text(coder.read_text() + textwrap.dedent("""
        if os.environ["CCS_COMPONENT"] == "one":
            implementation = pathlib.Path(os.environ["CCS_IMPLEMENTATION"])
            implementation.unlink()
            implementation.symlink_to("/etc/passwd")
    """))
    git(repo, "commit", "--quiet", "-am", "a coder that links")

    done = ccs(repo, "run", "shop", "--json")
    assert done.returncode == 1, done.stderr
    body = body_of(done)
    assert body["status"] == "needs_attention"
    kids = children(body)
    assert kids["one"]["status"] == "failed"
    assert "src/shop/one.py is a symbolic link" in kids["one"]["message"]
    assert kids["two"]["status"] == "succeeded"


# Planted hooks and config ------------------------------------------------------------

PLANT = """
marker = os.environ["E2E_MARKER"]
common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                        capture_output=True, text=True, check=True).stdout.strip()
hooks = pathlib.Path(common) / "hooks"
hooks.mkdir(exist_ok=True)
for name in ("post-checkout", "post-commit", "reference-transaction"):
    (hooks / name).write_text(f"#!/bin/sh\\necho {name} >> {marker}\\n")
    (hooks / name).chmod(0o755)
subprocess.run(["git", "config", "core.fsmonitor", str(hooks / "post-commit")], check=True)
"""


def test_hooks_and_fsmonitor_a_coder_plants_never_run_and_never_reach_the_user(
        tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    repo = project(tmp_path, PLANT, components=("one", "two", "three"))
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())

    done = ccs(repo, "run", "shop", "--json",
               env={**NO_SANDBOX, "E2E_MARKER": str(marker)})
    assert done.returncode == 0, done.stderr
    assert body_of(done)["status"] == "complete"
    assert not marker.exists(), marker.read_text()
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before
    assert "fsmonitor" not in (repo / ".git" / "config").read_text()
    # The user's own git in the user's repository runs none either.
    git(repo, "status")
    assert not marker.exists()


# Processes and output ----------------------------------------------------------------


def runner_log(repo: Path, done: subprocess.CompletedProcess[str]) -> Path:
    """Return the live log of component `one` in the session `done` ran."""
    session = body_of(done)["session"]
    return repo / ".git" / "ccs" / "logs" / session / "one" / "runner.log"

ESCAPE = """
seconds = "600.%d" % os.getpid()  # found again by its command line: inside a sandbox its
escapee = subprocess.Popen(["setsid", "sleep", seconds],  # pid is one of its own namespace
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"ESCAPEE {seconds} {escapee.pid}", flush=True)
"""


def sleepers(seconds: str) -> list[int]:
    """Return the live processes whose command line is `sleep <seconds>`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if command.split(b"\0")[-2:] == [seconds.encode(), b""] and alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.mark.parametrize("sandbox", ["1", "0"])
def test_a_setsid_escapee_is_reaped_when_the_attempt_ends(tmp_path: Path,
                                                          sandbox: str) -> None:
    repo = project(tmp_path, ESCAPE)
    done = ccs(repo, "run", "shop", "--json", env={"CCS_SANDBOX": sandbox})
    log = runner_log(repo, done).read_text()
    marks = re.findall(r"ESCAPEE (\S+) \d+", log)
    left = [pid for seconds in marks for pid in sleepers(seconds)]
    for pid in left:  # never leave a sleeper behind, even when the assertion fails
        os.kill(pid, 9)
    assert done.returncode == 0, done.stderr
    assert len(marks) == 1
    assert left == []


FLOOD = """
chunk = b"x" * 1023 + b"\\n"
for _ in range(50 * 1024):
    sys.stdout.buffer.write(chunk)
sys.stdout.flush()
"""


def test_fifty_megabytes_of_output_leave_a_capped_log_and_the_run_succeeds(
        tmp_path: Path) -> None:
    repo = project(tmp_path, FLOOD)
    done = ccs(repo, "run", "shop", "--json")
    assert done.returncode == 0, done.stderr
    assert body_of(done)["status"] == "complete"
    coder_log = runner_log(repo, done).parent / "attempt-1" / "coder.log"
    for log in (runner_log(repo, done), coder_log):
        assert log.stat().st_size <= 2 * 1024 * 1024 + 4096
        assert "bytes of output cut here" in log.read_text()


# The sandbox -------------------------------------------------------------------------

ESCAPE_WRITES = """
refused = []
for target in os.environ["E2E_TARGETS"].split(os.pathsep):
    try:
        with open(target, "a") as file:
            file.write("written by the coder\\n")
    except OSError as error:
        print(f"coder: {error}", flush=True)
        refused.append(target)
if refused:
    sys.exit(1)
"""


def sandbox_targets(tmp_path: Path, repo: Path) -> dict[Path, str]:
    home = tmp_path / "home"
    other = tmp_path / "other-repo"
    (home).mkdir()
    other.mkdir()
    git(other, "init", "--quiet")
    targets = {home / ".bashrc": "# mine\n", other / "README.md": "other\n",
               repo / ".git" / "description": (repo / ".git" / "description").read_text()}
    for path, text in targets.items():
        path.write_text(text)
    return targets


def test_the_sandbox_refuses_writes_outside_the_checkout(tmp_path: Path, bwrap: None) -> None:
    repo = project(tmp_path, ESCAPE_WRITES)
    targets = sandbox_targets(tmp_path, repo)
    env = {"HOME": str(tmp_path / "home"),
           "E2E_TARGETS": os.pathsep.join(str(path) for path in targets)}

    done = ccs(repo, "run", "shop", "--json", env=env)
    assert done.returncode == 1, done.stderr
    message = children(body_of(done))["one"]["message"]
    log = runner_log(repo, done).read_text()
    for path, text in targets.items():
        assert path.read_text() == text, path
        assert f"Read-only file system: '{path}'" in log
    assert "the sandbox refused a write to " in message
    assert "sandbox: {writable: [...]}" in message and "CCS_SANDBOX=0" in message


def test_with_ccs_sandbox_0_the_sandbox_is_off(tmp_path: Path, bwrap: None) -> None:
    repo = project(tmp_path, ESCAPE_WRITES)
    targets = sandbox_targets(tmp_path, repo)
    env = {"HOME": str(tmp_path / "home"), **NO_SANDBOX,
           "E2E_TARGETS": os.pathsep.join(str(path) for path in targets)}

    done = ccs(repo, "run", "shop", "--json", env=env)
    assert done.returncode == 0, done.stderr
    for path, text in targets.items():
        assert path.read_text() == text + "written by the coder\n", path


# Sandboxed, the loop runs outside the jails (service/adapters/local/inline.py): its own
# files must be out of a coder's reach, and what a coder leaves for it read only as files.
TAMPER = """
prompt = pathlib.Path(os.environ["CCS_PROMPT"])
try:
    prompt.write_text("planted")
    print("TAMPER prompt written", flush=True)
except OSError as error:
    print(f"TAMPER prompt refused: {error.strerror}", flush=True)
try:
    prompt.unlink()
    prompt.symlink_to(os.environ["E2E_TARGET"])
    print("TAMPER prompt swapped", flush=True)
except OSError as error:
    print(f"TAMPER swap refused: {error.strerror}", flush=True)
os.mkfifo(os.environ["CCS_USAGE"])  # a reader that opened this would wait forever
"""


def test_a_coder_cannot_touch_the_loops_own_files_nor_stall_it_with_a_fifo(
        tmp_path: Path, bwrap: None) -> None:
    repo = project(tmp_path, TAMPER)
    target = tmp_path / "target.txt"
    target.write_text("untouched\n")

    done = ccs(repo, "run", "shop", "--json", env={"E2E_TARGET": str(target)})
    assert done.returncode == 0, done.stderr
    log = runner_log(repo, done).read_text()
    assert "TAMPER prompt refused: Read-only file system" in log
    assert "TAMPER swap refused: Read-only file system" in log
    assert "the usage file is not a regular file; ignored" in log
    assert target.read_text() == "untouched\n"
