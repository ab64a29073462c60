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
from typing import BinaryIO, TextIO

from action import gitops
from action.coder import (
    AttemptContext,
    CoderCannotStart,
    CoderStep,
    collect_usage,
    prepare,
    scratch_patterns,
)
from action.commands import CommandOutcome, run_command, substitute_all
from action.junit import parse_file
from action.logcap import TeeLog, attempt_log
from action.progress import ProgressFile
from action.report import (
    Attempt,
    RunResult,
    TestOutcome,
    describe_command,
    describe_tests,
    empty_counts,
    failure_message,
    feedback_text,
    judge_tests,
    success_message,
    summarize,
)
from action.spec import CommandConfig, ComponentEntry, InputError, RunConfig, VerifyEntry
from action.transcript import Transcript
from action.usage import add_usage, budget_message, cost_of

# Never hand the job's own credentials to repository code: with the OIDC request token a
# coder could sign a result for any child of the same run.
SECRET_ENV = ("CCS_JOB_TOKEN", "CCS_JOB_CALLBACK_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
              "ACTIONS_ID_TOKEN_REQUEST_URL")


class Console:
    """Where the runner says what it is doing; plain lines on `stream` (stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def start(self, title: str) -> None:
        """Announce a step whose command output follows."""
        self.info(title)

    def end(self) -> None:
        """Close the step started last."""

    def info(self, message: str) -> None:
        """Say one line."""
        print(f"ccs: {message}", file=self.stream or sys.stderr, flush=True)


@dataclass
class Runner:
    """Run commands for one entry inside `workdir`, with shared env, temp dir and console."""

    session: str
    workdir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    console: Console = field(default_factory=Console)
    echo: BinaryIO | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    transcript: Transcript = field(default_factory=lambda: Transcript(None))
    progress: ProgressFile = field(default_factory=lambda: ProgressFile(None))
    # Where each attempt's prompt.md, coder.log and tests.log go (None: keep none).
    logs: Path | None = None
    # A sandbox's argv that every command and git call runs inside (() for none). Then the
    # runner itself is outside it: `scratch` (its own files: prompts, feedback, output
    # copies) must be a folder the jail cannot write, and `outbox` (the JUnit report and
    # the usage file, which commands write) one it can.
    jail: tuple[str, ...] = ()
    scratch: Path | None = None
    outbox: Path | None = None

    def __post_init__(self) -> None:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="ccs-run-"))
            if self.scratch.resolve().is_relative_to(self.workdir.resolve()):
                # Junit and feedback files must never count as changes in the checkout.
                shutil.rmtree(self.scratch)
                self.scratch = Path(tempfile.mkdtemp(prefix="ccs-run-",
                                                     dir=self.workdir.resolve().parent))
        if self.outbox is None:
            self.outbox = self.scratch
        self.junit = self.outbox / "junit.xml"
        self.feedback = self.scratch / "feedback.txt"

    def close(self) -> None:
        """Remove the temp dir."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run(self, title: str, spec: CommandConfig, values: Mapping[str, str],
            env: Mapping[str, str], log: Path | None = None) -> CommandOutcome:
        """Run one configured command with placeholders and env filled in."""
        return self.run_argv(title, substitute_all(list(spec.argv), values), spec.timeout, env,
                             log=log)

    def run_coder(self, title: str, step: CoderStep, timeout: float,
                  env: Mapping[str, str], log: Path | None = None) -> CommandOutcome:
        """Run one attempt's prepared coder, keeping all of its stdout for usage()."""
        # The argv is used as built: a prompt in it must not have its braces substituted.
        # The log shows it with a prompt passed as an argument abbreviated.
        shown = [arg if len(arg) <= 200 and "\n" not in arg else f"<prompt, {len(arg)} chars>"
                 for arg in step.argv]
        with step.stdout_path.open("wb") as stdout_copy:
            return self.run_argv(title, list(step.argv), timeout, {**env, **step.env},
                                 stdin=step.stdin, stdout_copy=stdout_copy, shown=shown,
                                 log=log)

    def run_argv(self, title: str, argv: list[str], timeout: float, env: Mapping[str, str],
                 *, stdin: str | None = None, stdout_copy: BinaryIO | None = None,
                 shown: list[str] | None = None, log: Path | None = None) -> CommandOutcome:
        """Run `argv` in the checkout with the runner's environment plus `env`; what it
        prints also goes, capped, to `log`."""
        full_env = {k: v for k, v in self.environ.items() if k not in SECRET_ENV}
        # Bytecode caches would show up as changes outside the component's own files.
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        full_env.update(env)
        self.console.start(f"{title}: {' '.join(shown or argv)}")
        echo = self.echo if log is None else TeeLog(self.echo, log)
        try:
            outcome = run_command(argv, cwd=str(self.workdir), env=full_env, timeout=timeout,
                                  cancel=self.cancel, echo=echo, stdin=stdin,
                                  stdout_copy=stdout_copy, jail=self.jail)
        finally:
            self.console.end()
            if isinstance(echo, TeeLog):
                echo.close()
        self.console.info(f"{title} {'succeeded' if outcome.ok else outcome.describe(timeout)}"
                          f" ({outcome.duration:.1f} s)")
        self.transcript.command(title, shown or argv, outcome, timeout)
        return outcome

    def run_tests(self, spec: CommandConfig, values: Mapping[str, str],
                  env: Mapping[str, str], title: str = "tests",
                  log: Path | None = None) -> TestOutcome:
        """Run the test command with a fresh JUnit path and judge the outcome."""
        self.junit.unlink(missing_ok=True)
        command = self.run(title, spec, values, env, log)
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
        jail = runner.jail
        start = gitops.head(runner.workdir, jail=jail)
        result.commit = start
        gitops.reset_branch(runner.workdir, entry.child_branch, jail=jail)
        linked = linked_paths(runner.workdir, entry)
        if linked:
            # The coder would write through the link, outside the checkout (DESIGN §8).
            result.message = (f"{', '.join(linked)} is a symbolic link in the repository; "
                              "the coder was not run. Replace it with a regular file, then "
                              "retry.")
            return result
        result = _attempts(entry, config, runner, result)
        if gitops.commit_all(runner.workdir, f"ccs: implement {label}",
                             leave_out=scratch_patterns(config), jail=jail):
            runner.console.info(f"committed the changes to {entry.child_branch}")
        result.commit = gitops.head(runner.workdir, jail=jail)
        result.changed_files = gitops.changed_files(runner.workdir, start, jail=jail)
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
        runner.progress.phase("setup")
        setup = runner.run("setup", config.setup, entry_values(entry, runner.junit, 0),
                           entry_env(runner.session, entry, 0, None),
                           None if runner.logs is None else runner.logs / "setup.log")
        if not setup.ok:
            result.message = describe_command("setup", setup, config.setup.timeout)
            return result
    last: Attempt | None = None
    for number in range(1, config.attempts + 1):
        if last is not None and _budget_reached(config, result):
            spent = budget_message(cost_of(result.usage), config.coder.budget_usd, last.number)
            result.message = _join(spent, failure_message(last, config.coder.timeout,
                                                          config.test.timeout))
            return result
        feedback = _write_feedback(entry, config, runner, last)
        values = entry_values(entry, runner.junit, number)
        env = entry_env(runner.session, entry, number, runner.feedback if feedback else None)
        context = AttemptContext(number, runner.scratch, feedback, cost_of(result.usage),
                                 outbox=runner.outbox)
        runner.progress.phase("coder", number, config.attempts)
        try:
            coder = _run_coder(entry, config, runner, context, values, env, result)
        except CoderCannotStart as error:
            _note(attempt_log(runner.logs, number, "coder.log"), f"ccs: {error}\n")
            return _cannot_start(result, number, str(error))
        if runner.cancel.is_set():
            return _cancelled(result, number, "coder")
        runner.progress.phase("tests", number, config.attempts)
        tests = runner.run_tests(config.test, values, env,
                                 f"attempt {number}/{config.attempts}: tests",
                                 attempt_log(runner.logs, number, "tests.log"))
        if runner.cancel.is_set():
            return _cancelled(result, number, "tests")
        last = Attempt(number, coder, tests)
        result.attempts, result.tests = number, tests.counts()
        result.failed_tests = tests.failed_tests
        if tests.ok:
            result.status = "succeeded"
            result.message = success_message(last, config.attempts, config.coder.timeout)
            return result
    assert last is not None
    result.message = failure_message(last, config.coder.timeout, config.test.timeout)
    return result


def _write_feedback(entry: ComponentEntry, config: RunConfig, runner: Runner,
                    last: Attempt | None) -> str:
    """Write why the last attempt failed to the feedback file and return it ('' at first,
    unless the entry brings its own: the integration child starts from verify's output)."""
    if last is None:
        if entry.feedback:
            runner.feedback.write_text(entry.feedback, encoding="utf-8")
        return entry.feedback
    assert config.coder is not None and config.test is not None
    feedback = feedback_text(f"{entry.context}.{entry.component}", last, config.coder.timeout,
                             config.test.timeout)
    runner.feedback.write_text(feedback, encoding="utf-8")
    return feedback


def _run_coder(entry: ComponentEntry, config: RunConfig, runner: Runner,
               context: AttemptContext, values: dict[str, str], env: dict[str, str],
               result: RunResult) -> CommandOutcome:
    """Prepare and run one attempt's coder and add what it spent to `result.usage`."""
    assert config.coder is not None
    step = prepare(entry, config, runner.workdir, context, values, runner.environ)
    for warning in step.warnings:
        runner.console.info(f"warning: {warning}")
    runner.transcript.copy(f"attempt-{context.number}-prompt.md", step.prompt_path)
    prompt_copy = attempt_log(runner.logs, context.number, "prompt.md")
    if prompt_copy is not None:
        prompt_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(step.prompt_path, prompt_copy)
    coder = runner.run_coder(f"attempt {context.number}/{config.attempts}: coder", step,
                             config.coder.timeout, env,
                             attempt_log(runner.logs, context.number, "coder.log"))
    if coder.not_started:
        raise CoderCannotStart(f"coder {coder.error}")
    spent, notes = collect_usage(step, coder)
    for note in notes:
        runner.console.info(f"warning: CCS_USAGE: {note}")
    result.usage = add_usage(result.usage, spent)
    return coder


def _note(path: Path | None, text: str) -> None:
    """Append `text` to a log file, if the runner keeps logs."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(text)


def _budget_reached(config: RunConfig, result: RunResult) -> bool:
    """Return True when the component has spent all of coder.budget_usd."""
    assert config.coder is not None
    budget = config.coder.budget_usd
    return budget is not None and cost_of(result.usage) >= budget


def _cannot_start(result: RunResult, number: int, message: str) -> RunResult:
    # Running the tests would only judge the untouched checkout; stop here instead.
    result.status, result.attempts, result.message = "failed", number, message
    return result


def _cancelled(result: RunResult, number: int, during: str) -> RunResult:
    result.status, result.attempts = "failed", number
    result.message = f"cancelled during attempt {number} ({during})"
    return result


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def run_verify(entry: VerifyEntry, config: RunConfig, runner: Runner) -> RunResult:
    """Run the whole-suite verify command once at HEAD and return the result; never raises."""
    if config.verify is None:
        raise InputError("config: verify mode needs a 'verify' command")
    result = RunResult("failed", None, entry.ref, 1, empty_counts(), [], "",
                       component=entry.component)
    try:
        result.commit = gitops.head(runner.workdir, jail=runner.jail)
        values = {"context": "", "component": entry.component, "design": "",
                  "implementation": "", "test": "", "junit": str(runner.junit), "attempt": "1"}
        env = {"CCS_SESSION": runner.session, "CCS_COMPONENT": entry.component,
               "CCS_ATTEMPT": "1"}
        runner.progress.phase("tests", 1, 1)
        tests = runner.run_tests(config.verify, values, env, "verify",
                                 None if runner.logs is None else runner.logs / "verify.log")
        result.tests, result.failed_tests = tests.counts(), tests.failed_tests
        if runner.cancel.is_set():
            result.message = "cancelled during verify"
        elif tests.ok:
            result.status = "succeeded"
            result.message = f"verify passed: {summarize(tests)}"
        else:
            result.message = f"verify failed: {describe_tests(tests, config.verify.timeout)}"
    except Exception as error:  # noqa: BLE001 - a crash must still become a failed result
        result.message = _join(result.message, f"runner crashed: {type(error).__name__}: "
                                               f"{error}")
    return result
