"""All GitHub Actions runner I/O: job env, workflow commands, outputs and the step summary."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from action.runner import Console
from action.spec import InputError

MODES = ("component", "verify")
MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step


@dataclass(frozen=True)
class JobEnv:
    """What `python -m action job` reads from its environment."""

    entry: str
    config: str
    session: str
    branch: str
    callback: str
    mode: str
    repo_url: str
    token: str | None
    callback_token: str | None
    workspace: Path
    repository: str
    run_id: int | None
    server_url: str
    id_token_url: str | None
    id_token_request_token: str | None

    def __repr__(self) -> str:
        # Tokens must never reach a log through a repr.
        return f"JobEnv(session={self.session!r}, mode={self.mode!r}, repo={self.repository!r})"

    @property
    def log_url(self) -> str | None:
        """Return the run's page, where its logs are."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def read_job_env(environ: Mapping[str, str] | None = None) -> JobEnv:
    """Return the job's inputs from CCS_JOB_* and GitHub's own variables."""
    env = os.environ if environ is None else environ
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "")
    mode = env.get("CCS_JOB_MODE") or "component"
    if mode not in MODES:
        raise InputError(f"CCS_JOB_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    run_id = env.get("GITHUB_RUN_ID", "")
    default_url = f"{server}/{repository}.git" if repository else ""
    return JobEnv(
        entry=env.get("CCS_JOB_ENTRY", ""),
        config=env.get("CCS_JOB_CONFIG", ""),
        session=env.get("CCS_JOB_SESSION", ""),
        branch=env.get("CCS_JOB_BRANCH", ""),
        callback=env.get("CCS_JOB_CALLBACK", "").rstrip("/"),
        mode=mode,
        repo_url=env.get("CCS_JOB_REPO_URL") or default_url,
        token=env.get("CCS_JOB_TOKEN") or None,
        callback_token=env.get("CCS_JOB_CALLBACK_TOKEN") or None,
        workspace=Path(env.get("GITHUB_WORKSPACE") or os.getcwd()),
        repository=repository,
        run_id=int(run_id) if run_id.isdigit() else None,
        server_url=server,
        id_token_url=env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or None,
        id_token_request_token=env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN") or None,
    )


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", stream: TextIO | None = None,
            **properties: str | int | None) -> None:
    """Print one workflow command such as `::error file=x,line=3::message`."""
    props = ",".join(f"{key}={escape_property(str(value))}"
                     for key, value in properties.items() if value is not None)
    line = f"::{name}{' ' + props if props else ''}::{escape_data(message)}"
    print(line, file=stream or sys.stdout, flush=True)


def annotate(level: str, message: str, *, title: str | None = None, file: str | None = None,
             line: int | None = None, stream: TextIO | None = None) -> None:
    """Print an `error`/`warning`/`notice` annotation."""
    command(level, message, stream, title=title, file=file, line=line)


def mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to hide `value` in every later log line."""
    command("add-mask", value, stream)


def set_output(name: str, value: str, environ: Mapping[str, str] | None = None) -> None:
    """Append a step output to $GITHUB_OUTPUT (no-op outside Actions)."""
    path = (os.environ if environ is None else environ).get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        if "\n" in value:
            delimiter = f"ccs_{secrets.token_hex(8)}"
            out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            out.write(f"{name}={value}\n")


def append_summary(markdown: str, environ: Mapping[str, str] | None = None) -> None:
    """Append Markdown to $GITHUB_STEP_SUMMARY (no-op outside Actions)."""
    path = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(markdown if markdown.endswith("\n") else markdown + "\n")


def markdown_cell(text: str) -> str:
    """Return `text` safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")[:500]


class GroupedConsole(Console):
    """A runner console that folds each command's output into a log group.

    Command output comes from repository code, so workflow commands in it are switched
    off with `::stop-commands::` until the command ends.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._resume: str | None = None

    def start(self, title: str) -> None:
        """Open a group and stop workflow-command processing."""
        command("group", f"ccs: {title}", self.stream)
        self._resume = secrets.token_hex(16)
        command("stop-commands", self._resume, self.stream)

    def end(self) -> None:
        """Resume workflow commands and close the group."""
        if self._resume:
            # The command's output may end mid-line; the resume token must start a line.
            print(f"\n::{self._resume}::", file=self.stream, flush=True)
            self._resume = None
        command("endgroup", "", self.stream)

    def info(self, message: str) -> None:
        """Say one line."""
        print(f"ccs: {message}", file=self.stream, flush=True)
