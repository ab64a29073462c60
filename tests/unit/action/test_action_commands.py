"""Placeholders and process-group handling of action.commands."""

from __future__ import annotations

import os
import sys
import threading
import time

from action.commands import run_command, substitute, substitute_all, tail

VALUES = {"context": "accounts", "component": "hasher", "test": "tests/test_h.py",
          "junit": "/tmp/j.xml", "attempt": "2"}


def test_substitute_replaces_known_placeholders() -> None:
    assert substitute("--junitxml={junit}", VALUES) == "--junitxml=/tmp/j.xml"
    assert substitute_all(["{test}", "-k", "{component}_{attempt}"], VALUES) == [
        "tests/test_h.py", "-k", "hasher_2"]


def test_double_braces_are_literal_and_unknown_names_stay() -> None:
    assert substitute("{{context}}", VALUES) == "{context}"
    assert substitute("{{{context}}}", VALUES) == "{accounts}"
    assert substitute("{nope} {1:2}", VALUES) == "{nope} {1:2}"


def test_no_format_spec_or_attribute_is_evaluated() -> None:
    assert substitute("{context.__class__} {context!r} {context:>20}", VALUES) == (
        "{context.__class__} {context!r} {context:>20}")


def test_command_runs_without_shell_and_captures_output(tmp_path) -> None:
    outcome = run_command([sys.executable, "-c", "import sys; print('out $HOME');"
                           "print('err', file=sys.stderr); sys.exit(3)"],
                          cwd=str(tmp_path), env=os.environ, timeout=10)
    assert outcome.exit_code == 3 and not outcome.ok
    assert outcome.stdout.strip() == "out $HOME"
    assert outcome.stderr.strip() == "err"
    assert outcome.describe(10) == "exited with code 3"


def test_timeout_kills_the_whole_group_including_a_hanging_grandchild(tmp_path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen(['sleep', '1000'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
              "p.wait()\n")
    started = time.monotonic()
    outcome = run_command([sys.executable, "-c", script], cwd=str(tmp_path),
                          env=os.environ, timeout=1, grace=0.5)
    assert time.monotonic() - started < 1 + 0.5 + 2
    assert outcome.timed_out and outcome.describe(1) == "timed out after 1 s"
    grandchild = int(pid_file.read_text())
    _assert_gone(grandchild)


def test_a_grandchild_left_behind_after_a_clean_exit_is_killed(tmp_path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess\n"
              "p = subprocess.Popen(['sleep', '1000'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n")
    started = time.monotonic()
    outcome = run_command([sys.executable, "-c", script], cwd=str(tmp_path),
                          env=os.environ, timeout=30, grace=0.5)
    assert outcome.ok
    assert time.monotonic() - started < 5
    _assert_gone(int(pid_file.read_text()))


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)"
    started = time.monotonic()
    outcome = run_command([sys.executable, "-c", script], cwd=str(tmp_path),
                          env=os.environ, timeout=0.5, grace=0.5)
    assert outcome.timed_out
    assert time.monotonic() - started < 4


def test_cancel_stops_the_command(tmp_path) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    outcome = run_command(["sleep", "100"], cwd=str(tmp_path), env=os.environ, timeout=30,
                          cancel=cancel, grace=0.5)
    assert outcome.cancelled and not outcome.ok
    assert outcome.describe(30) == "was cancelled"


def test_output_is_capped_to_its_tail(tmp_path) -> None:
    script = "print('a' * 100000); print('THE END')"
    outcome = run_command([sys.executable, "-c", script], cwd=str(tmp_path),
                          env=os.environ, timeout=10, cap=1000)
    assert len(outcome.stdout) == 1000
    assert outcome.stdout.endswith("THE END\n")


def test_missing_program_is_a_failed_outcome_not_a_crash(tmp_path) -> None:
    outcome = run_command(["/no/such/program"], cwd=str(tmp_path), env=os.environ, timeout=5)
    assert not outcome.ok
    assert "could not start '/no/such/program'" in outcome.describe(5)


def test_tail_marks_the_cut() -> None:
    assert tail("abc", 10) == "abc"
    assert tail("abcdef", 2).endswith("\nef")


def _assert_gone(pid: int) -> None:
    """Assert that `pid` no longer runs (a zombie reaped by init counts as gone)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if _is_zombie(pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_stdin_is_fed_and_the_stdout_copy_keeps_what_the_tail_cuts(tmp_path) -> None:
    copy = tmp_path / "stdout.txt"
    script = "import sys; text = sys.stdin.read(); sys.stdout.write(text * 3)"
    with copy.open("wb") as handle:
        outcome = run_command([sys.executable, "-c", script], cwd=str(tmp_path),
                              env=os.environ, timeout=10, stdin="0123456789" * 1000,
                              stdout_copy=handle, cap=1000)
    assert outcome.ok
    assert copy.read_text() == "0123456789" * 3000
    assert outcome.stdout == ("0123456789" * 3000)[-1000:]


def test_a_command_that_ignores_its_stdin_is_not_held_up_by_it(tmp_path) -> None:
    outcome = run_command([sys.executable, "-c", "print('done')"], cwd=str(tmp_path),
                          env=os.environ, timeout=10, stdin="x" * 1_000_000)
    assert outcome.ok and outcome.stdout.strip() == "done"


def test_a_program_that_cannot_be_executed_is_reported_as_not_started(tmp_path) -> None:
    program = tmp_path / "not-a-program"
    program.write_text("no shebang, just text\n")
    program.chmod(0o755)
    outcome = run_command([str(program)], cwd=str(tmp_path), env=os.environ, timeout=10)
    assert outcome.not_started and not outcome.ok
    assert outcome.describe(10).startswith(f"could not start {str(program)!r}: ")
