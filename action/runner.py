"""The child loop: coder → tests for up to `attempts` rounds, then commit and report."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from action import gitops
from action.commands import CommandOutcome, run_command, substitute_all
from action.junit import parse_file
from action.report import (
    Attempt,
    RunResult,
    TestOutcome,
    describe_command,
    describe_tests,
    empty_counts,
    feedback_text,
    judge_tests,
)
from action.spec import CommandConfig, ComponentEntry, InputError, RunConfig, VerifyEntry

# Never hand the job's own credentials to repository code: with the OIDC request token a
# coder could sign a result for any child of the same run.
SECRET_ENV = ("CCS_JOB_TOKEN", "CCS_JOB_CALLBACK_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
              "ACTIONS_ID_TOKEN_REQUEST_URL")


class Console:
    """Where the runner says what it is doing; plain lines on stderr."""

    def start(self, title: str) -> None:
        """Announce a step whose command output follows."""
        print(f"ccs: {title}", file=sys.stderr, flush=True)

    def end(self) -> None:
        """Close the step started last."""

    def info(self, message: str) -> None:
        """Say one line."""
        print(f"ccs: {message}", file=sys.stderr, flush=True)


@dataclass
class Runner:
    """Run commands for one entry inside `workdir`, with shared env, temp dir and console."""

    session: str
    workdir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    console: Console = field(default_factory=Console)
    echo: BinaryIO | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="ccs-run-"))
        if self.scratch.resolve().is_relative_to(self.workdir.resolve()):
            # Junit and feedback files must never count as changes in the checkout.
            shutil.rmtree(self.scratch)
            self.scratch = Path(tempfile.mkdtemp(prefix="ccs-run-",
                                                 dir=self.workdir.resolve().parent))
        self.junit = self.scratch / "junit.xml"
        self.feedback = self.scratch / "feedback.txt"

    def close(self) -> None:
        """Remove the temp dir."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run(self, title: str, spec: CommandConfig, values: Mapping[str, str],
            env: Mapping[str, str]) -> CommandOutcome:
        """Run one configured command with placeholders and env filled in."""
        argv = substitute_all(list(spec.argv), values)
        full_env = {k: v for k, v in self.environ.items() if k not in SECRET_ENV}
        # Bytecode caches would show up as changes outside the component's own files.
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        full_env.update(env)
        self.console.start(f"{title}: {' '.join(argv)}")
        try:
            outcome = run_command(argv, cwd=str(self.workdir), env=full_env,
                                  timeout=spec.timeout, cancel=self.cancel, echo=self.echo)
        finally:
            self.console.end()
        self.console.info(f"{title} {'succeeded' if outcome.ok else outcome.describe(spec.timeout)}"
                          f" ({outcome.duration:.1f} s)")
        return outcome

    def run_tests(self, spec: CommandConfig, values: Mapping[str, str],
                  env: Mapping[str, str], title: str = "tests") -> TestOutcome:
        """Run the test command with a fresh JUnit path and judge the outcome."""
        self.junit.unlink(missing_ok=True)
        command = self.run(title, spec, values, env)
        return judge_tests(command, parse_file(self.junit))




def entry_values(entry: ComponentEntry, junit: Path, attempt: int) -> dict[str, str]:
    """Return the placeholder values for one attempt."""
    return {"context": entry.context, "component": entry.component, "design": entry.design,
            "implementation": entry.implementation, "test": entry.test,
            "junit": str(junit), "attempt": str(attempt)}


def entry_env(session: str, entry: ComponentEntry, attempt: int,
              feedback: Path | None) -> dict[str, str]:
    """Return the CCS_* variables the coder and test commands see."""
    env = {"CCS_SESSION": session, "CCS_CONTEXT": entry.context,
           "CCS_COMPONENT": entry.component, "CCS_DESIGN": entry.design,
           "CCS_IMPLEMENTATION": entry.implementation, "CCS_TEST": entry.test,
           "CCS_ATTEMPT": str(attempt)}
    if feedback is not None:
        env["CCS_FEEDBACK"] = str(feedback)
    return env


def run_component(entry: ComponentEntry, config: RunConfig, runner: Runner) -> RunResult:
    """Run the whole child loop in `runner.workdir` and return the result; never raises."""
    if config.coder is None or config.test is None:
        raise InputError("config: component mode needs both 'coder' and 'test' commands")
    label = f"{entry.context}.{entry.component}"
    result = RunResult("failed", None, entry.child_branch, 0, empty_counts(), [], "",
                       component=entry.component)
    try:
        start = gitops.head(runner.workdir)
        result.commit = start
        gitops.reset_branch(runner.workdir, entry.child_branch)
        linked = linked_paths(runner.workdir, entry)
        if linked:
            # The coder would write through the link, outside the checkout (DESIGN §8).
            result.message = (f"{', '.join(linked)} is a symbolic link in the repository; "
                              "the coder was not run. Replace it with a regular file, then "
                              "retry.")
            return result
        result = _attempts(entry, config, runner, result)
        if gitops.commit_all(runner.workdir, f"ccs: implement {label}"):
            runner.console.info(f"committed the changes to {entry.child_branch}")
        result.commit = gitops.head(runner.workdir)
        result.changed_files = gitops.changed_files(runner.workdir, start)
    except gitops.GitError as error:
        result.status = "failed"
        result.message = _join(result.message, str(error))
    except Exception as error:  # noqa: BLE001 - a crash must still become a failed result
        result.status = "failed"
        result.message = _join(result.message, f"runner crashed: {type(error).__name__}: "
                                               f"{error}")
    return result


def linked_paths(workdir: Path, entry: ComponentEntry) -> list[str]:
    """Return the component's paths, or folders above them, that are symlinks in `workdir`."""
    found = set()
    for path in (entry.design, entry.implementation, entry.test, *entry.allow):
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            if (workdir / prefix).is_symlink():
                found.add(prefix)
                break
    return sorted(found)


def _attempts(entry: ComponentEntry, config: RunConfig, runner: Runner,
              result: RunResult) -> RunResult:
    """Run setup, then coder → tests rounds until tests pass; fill in `result`."""
    assert config.coder is not None and config.test is not None
    if config.setup is not None:
        setup = runner.run("setup", config.setup, entry_values(entry, runner.junit, 0),
                           entry_env(runner.session, entry, 0, None))
        if not setup.ok:
            result.message = describe_command("setup", setup, config.setup.timeout)
            return result
    last: Attempt | None = None
    for number in range(1, config.attempts + 1):
        feedback = None
        if last is not None:
            runner.feedback.write_text(feedback_text(
                f"{entry.context}.{entry.component}", last, config.coder.timeout,
                config.test.timeout), encoding="utf-8")
            feedback = runner.feedback
        values = entry_values(entry, runner.junit, number)
        env = entry_env(runner.session, entry, number, feedback)
        coder = runner.run(f"attempt {number}/{config.attempts}: coder", config.coder,
                           values, env)
        if runner.cancel.is_set():
            return _cancelled(result, number, "coder")
        tests = runner.run_tests(config.test, values, env,
                                 f"attempt {number}/{config.attempts}: tests")
        if runner.cancel.is_set():
            return _cancelled(result, number, "tests")
        last = Attempt(number, coder, tests)
        result.attempts, result.tests = number, tests.counts()
        result.failed_tests = tests.failed_tests
        if tests.ok:
            result.status = "succeeded"
            result.message = _success_message(last, config)
            return result
    assert last is not None
    result.message = _failure_message(last, config)
    return result


def _cancelled(result: RunResult, number: int, during: str) -> RunResult:
    result.status, result.attempts = "failed", number
    result.message = f"cancelled during attempt {number} ({during})"
    return result


def _success_message(last: Attempt, config: RunConfig) -> str:
    assert config.coder is not None
    of = f" of {config.attempts}" if config.attempts > 1 else ""
    message = f"tests passed on attempt {last.number}{of}: {_summary(last.tests)}"
    if last.coder is not None and not last.coder.ok:
        message += f" (though the {describe_command('coder', last.coder, config.coder.timeout)})"
    return message


def _failure_message(last: Attempt, config: RunConfig) -> str:
    assert config.coder is not None and config.test is not None
    plural = "s" if last.number != 1 else ""
    message = (f"tests failed after {last.number} attempt{plural}: "
               f"{describe_tests(last.tests, config.test.timeout)}")
    if last.coder is not None and not last.coder.ok:
        coder = describe_command("coder", last.coder, config.coder.timeout)
        message = f"{coder} on attempt {last.number}; {message}"
    return message


def _summary(tests: TestOutcome) -> str:
    counts = tests.counts()
    parts = [f"{counts['passed']} passed"]
    parts += [f"{counts[key]} {key}" for key in ("failed", "errors", "skipped") if counts[key]]
    return ", ".join(parts)


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def run_verify(entry: VerifyEntry, config: RunConfig, runner: Runner) -> RunResult:
    """Run the whole-suite verify command once at HEAD and return the result; never raises."""
    if config.verify is None:
        raise InputError("config: verify mode needs a 'verify' command")
    result = RunResult("failed", None, entry.ref, 1, empty_counts(), [], "",
                       component=entry.component)
    try:
        result.commit = gitops.head(runner.workdir)
        values = {"context": "", "component": entry.component, "design": "",
                  "implementation": "", "test": "", "junit": str(runner.junit), "attempt": "1"}
        env = {"CCS_SESSION": runner.session, "CCS_COMPONENT": entry.component,
               "CCS_ATTEMPT": "1"}
        tests = runner.run_tests(config.verify, values, env, "verify")
        result.tests, result.failed_tests = tests.counts(), tests.failed_tests
        if runner.cancel.is_set():
            result.message = "cancelled during verify"
        elif tests.ok:
            result.status = "succeeded"
            result.message = f"verify passed: {_summary(tests)}"
        else:
            result.message = f"verify failed: {describe_tests(tests, config.verify.timeout)}"
    except Exception as error:  # noqa: BLE001 - a crash must still become a failed result
        result.message = _join(result.message, f"runner crashed: {type(error).__name__}: "
                                               f"{error}")
    return result
