"""One attempt's coder: its prompt, its command (argv or agent preset), what it spent."""

from __future__ import annotations

import errno
import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from action.agents import AgentRun, Preset, preset
from action.commands import CommandOutcome, substitute_all
from action.prompt import prompt_values, render, render_builtin, unknown_names
from action.spec import CoderConfig, ComponentEntry, RunConfig
from action.usage import Usage, read_usage_file, write_usage_file

MAX_STDOUT_READ = 64 * 1024 * 1024


class CoderCannotStart(Exception):
    """The coder cannot be started (program missing, template missing); says which."""


@dataclass(frozen=True)
class AttemptContext:
    """Where one attempt's files live, and what it knows of the ones before it."""

    number: int
    scratch: Path
    feedback: str = ""
    spent_usd: float = 0.0
    # Where the coder itself writes (its usage file); None: the scratch dir.
    outbox: Path | None = None

    def file(self, name: str) -> Path:
        """Return the path of this attempt's `name` file in the scratch dir."""
        return self.scratch / f"attempt-{self.number}-{name}"

    def written_by_coder(self, name: str) -> Path:
        """Return the path of this attempt's `name` file that the coder writes."""
        return (self.outbox or self.scratch) / f"attempt-{self.number}-{name}"


@dataclass(frozen=True)
class CoderStep:
    """The coder command of one attempt, ready to run."""

    argv: tuple[str, ...]
    env: dict[str, str]
    prompt_path: Path
    usage_path: Path
    stdout_path: Path
    stdin: str | None = None
    agent: Preset | None = None
    warnings: tuple[str, ...] = field(default=())


def prepare(entry: ComponentEntry, config: RunConfig, workdir: Path, attempt: AttemptContext,
            values: Mapping[str, str], environ: Mapping[str, str]) -> CoderStep:
    """Render the prompt and build the coder command; raise CoderCannotStart."""
    coder = config.coder
    assert coder is not None and config.test is not None
    template, warnings = _template(coder, workdir)
    text = _render(template, _prompt_values(entry, config, workdir, attempt, values))
    prompt_path, usage_path = attempt.file("prompt.md"), attempt.written_by_coder("usage.json")
    prompt_path.write_text(text, encoding="utf-8")
    # A fresh file each attempt, so that an attempt is never credited with the last one's.
    usage_path.unlink(missing_ok=True)
    env = {"CCS_PROMPT": str(prompt_path), "CCS_USAGE": str(usage_path)}
    stdin, agent = None, None
    if coder.agent is None:
        argv = tuple(substitute_all(list(coder.argv), {**values, "prompt": str(prompt_path)}))
    else:
        agent = preset(coder.agent)
        remaining = (None if coder.budget_usd is None
                     else max(0.0, coder.budget_usd - attempt.spent_usd))
        invocation = agent.invocation(AgentRun(
            prompt_text=text, prompt_path=str(prompt_path), checkout=str(workdir),
            model=coder.model, max_turns=coder.max_turns, budget_usd=remaining,
            files=own_files(entry, with_design=False),
            read_files=entry.designs or (entry.design,)))
        argv, stdin = invocation.argv, invocation.stdin
        env.update(invocation.env)
    _check_program(argv[0], workdir, {**environ, **env}.get("PATH"), agent)
    return CoderStep(argv, env, prompt_path, usage_path, attempt.file("coder-stdout.txt"),
                     stdin, agent, tuple(warnings))


def collect_usage(step: CoderStep, outcome: CommandOutcome) -> tuple[Usage, list[str]]:
    """Return what the attempt spent: the agent's own report, else the CCS_USAGE file."""
    notes: list[str] = []
    if step.agent is not None and not outcome.not_started:
        try:
            reported = step.agent.usage(_read_capped(step.stdout_path) or outcome.stdout)
        except Exception as error:  # noqa: BLE001 - a parser bug must not fail the component
            reported = {}
            notes.append(f"the {step.agent.name} preset could not read its agent's usage: "
                         f"{type(error).__name__}: {error}")
        if reported:
            write_usage_file(step.usage_path, reported)
    usage, file_notes = read_usage_file(step.usage_path)
    return usage, notes + file_notes


def scratch_patterns(config: RunConfig) -> tuple[str, ...]:
    """Return the patterns of files the coder's agent keeps in the checkout for itself."""
    if config.coder is None or config.coder.agent is None:
        return ()
    # Optional on a preset: most agents keep their state outside the checkout.
    return tuple(getattr(preset(config.coder.agent), "scratch_files", ()))


def own_files(entry: ComponentEntry, with_design: bool = True) -> tuple[str, ...]:
    """Return the files the component may change, each once, in a stable order."""
    files = [entry.design] if with_design else []
    files += [entry.implementation, entry.test, *entry.allow]
    return tuple(dict.fromkeys(files))


def _template(coder: CoderConfig, workdir: Path) -> tuple[str | None, list[str]]:
    """Return the custom template's text (None for the built-in) and warnings about it."""
    if coder.prompt is None:
        return None, []
    path = (workdir / coder.prompt).resolve()
    if not path.is_relative_to(workdir.resolve()):
        raise CoderCannotStart(f"coder.prompt {coder.prompt!r} leads outside the checkout")
    try:
        template = read_regular(path)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CoderCannotStart(f"cannot read the prompt template {coder.prompt!r}: "
                               f"{reason}") from None
    unknown = unknown_names(template)
    warnings = [f"prompt template {coder.prompt}: unknown name(s) "
                f"{', '.join('${' + name + '}' for name in unknown)} left as written"] if (
        unknown) else []
    return template, warnings


def _render(template: str | None, values: dict[str, str]) -> str:
    return render_builtin(values) if template is None else render(template, values)


def _prompt_values(entry: ComponentEntry, config: RunConfig, workdir: Path,
                   attempt: AttemptContext, values: Mapping[str, str]) -> dict[str, str]:
    assert config.test is not None
    return prompt_values(
        context=entry.context, description=entry.description, component=entry.component,
        design=entry.design, design_text=_design_texts(workdir, entry),
        implementation=entry.implementation, test=entry.test, allowed=own_files(entry),
        test_command=shlex.join(substitute_all(list(config.test.argv), values)),
        attempt=attempt.number, attempts=config.attempts, feedback=attempt.feedback)


def _design_texts(workdir: Path, entry: ComponentEntry) -> str:
    """Return the design text: the component's, or every design doc an entry names."""
    if not entry.designs:
        return _design_text(workdir, entry.design)
    return "\n\n".join(f"## {design}\n\n{_design_text(workdir, design)}"
                       for design in dict.fromkeys(entry.designs))


def _design_text(workdir: Path, design: str) -> str:
    path = (workdir / design).resolve()
    # A symlink out of the checkout must not put some other file into the prompt.
    if not path.is_relative_to(workdir.resolve()):
        return f"[ccs: the design document {design} leads outside the checkout; not read]"
    try:
        return read_regular(path, errors="replace")
    except OSError:
        return f"[ccs: the design document {design} is not in the checkout]"


def read_regular(path: Path, errors: str = "strict") -> str:
    """Return the text of `path` if it is a regular file; raise OSError otherwise.

    A coder can leave a FIFO or a device where a document was: opening one would block.
    """
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return path.read_text(encoding="utf-8", errors=errors)


def _check_program(program: str, workdir: Path, path: str | None,
                   agent: Preset | None) -> None:
    """Raise CoderCannotStart naming `program` when it cannot be run from `workdir`."""
    problem = _program_problem(program, workdir, path)
    if problem is None:
        return
    hint = f" (install it in `setup`, e.g. `{agent.install}`)" if agent is not None else ""
    raise CoderCannotStart(f"coder could not start: {problem}{hint}")


def _program_problem(program: str, workdir: Path, path: str | None) -> str | None:
    if "/" in program:
        # Popen looks a relative program up from its working directory.
        candidate = workdir / program
        if not candidate.exists():
            return f"program {program!r} does not exist"
        if candidate.is_dir() or not os.access(candidate, os.X_OK):
            return f"program {program!r} is not executable"
        return None
    if shutil.which(program, path=path) is not None:
        return None
    for folder in (path if path is not None else os.defpath).split(os.pathsep):
        if folder and (Path(folder) / program).is_file():
            return f"program {program!r} is on PATH but not executable"
    return f"program {program!r} was not found on PATH"


def _read_capped(path: Path) -> str:
    """Return the last MAX_STDOUT_READ bytes of the stdout copy as text ('' for none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - MAX_STDOUT_READ))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
