"""A small GitHub Actions simulator: run a composite action's `run:` steps like a runner.

`run_action(action_dir, inputs, env, workspace)` reads `action.yml`, resolves each step's
`if:` and `env:` expressions (inputs, steps.<id>.outputs, job.status, github.*), runs the
step's script with `bash --noprofile --norc -eo pipefail` in its own process group, and
collects outputs, the step summary and the workflow commands (annotations, masks) it
printed. `cancel_after` cancels the job like GitHub does (SIGINT, then SIGTERM, then
SIGKILL) and goes on with the `always()`/`cancelled()` steps. Also here: local HTTP
servers for the OIDC token endpoint and the ccs callback, and `github_env()`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

_COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


# --- workflow commands ----------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowCommand:
    """One `::name key=value::message` line a step printed."""

    name: str
    properties: dict[str, str]
    message: str


def _unescape(text: str, prop: bool = False) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def parse_commands(stdout: str) -> list[WorkflowCommand]:
    """Return the workflow commands in `stdout`, honouring `::stop-commands::`."""
    commands: list[WorkflowCommand] = []
    resume: str | None = None
    for line in stdout.splitlines():
        if resume is not None:
            if line.strip() == f"::{resume}::":
                resume = None
            continue
        match = _COMMAND.match(line.strip())
        if not match:
            continue
        name, props, message = match.group(1), match.group(2) or "", match.group(3)
        if name == "stop-commands":
            resume = message
            continue
        properties = {}
        for pair in filter(None, props.split(",")):
            key, _, value = pair.partition("=")
            properties[key.strip()] = _unescape(value, prop=True)
        commands.append(WorkflowCommand(name, properties, _unescape(message)))
    return commands


# --- expressions -------------------------------------------------------------------------


_TOKEN = re.compile(r"\s*(?:(&&|\|\||==|!=|!|\(|\))|'((?:[^']|'')*)'|([A-Za-z_][\w.\-]*\(\))"
                    r"|([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)|(\d+))")
# toJSON(x) / fromJSON(x) with one name or string argument (what workflows here use).
_JSON_CALL = re.compile(r"^\s*(toJSON|fromJSON)\((.*)\)\s*$", re.S)


class ExpressionError(ValueError):
    """An expression the simulator does not understand."""


@dataclass
class _Scope:
    inputs: dict[str, str]
    steps: dict[str, dict[str, str]]
    job_status: str
    github: dict[str, str]
    # Further contexts of a workflow job: matrix, secrets, runner, env (nested dicts).
    contexts: dict[str, Any] = field(default_factory=dict)

    def lookup(self, path: str) -> Any:
        parts = path.split(".")
        head = parts[0]
        if head in self.contexts:
            value = self.contexts[head]
            for part in parts[1:]:
                value = value.get(part, "") if isinstance(value, dict) else ""
            return value
        if head == "inputs" and len(parts) == 2:
            return self.inputs.get(parts[1], "")
        if head == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        if head == "steps" and len(parts) == 3 and parts[2] in ("outcome", "conclusion"):
            return self.steps.get(parts[1], {}).get(f"__{parts[2]}", "")
        if path == "job.status":
            return self.job_status
        if head == "github" and len(parts) == 2:
            return self.github.get(parts[1], "")
        if path in ("true", "false"):
            return path == "true"
        raise ExpressionError(f"unknown name {path!r}")


def evaluate(expression: str, scope: _Scope) -> Any:
    """Evaluate the subset of Actions expressions that action.yml files here use."""
    call = _JSON_CALL.match(expression)
    if call:
        value = evaluate(call.group(2), scope)
        return json.dumps(value) if call.group(1) == "toJSON" else json.loads(value)
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot parse {text!r} at {position}")
        position = match.end()
        op, string, call, name, number = match.groups()
        if op:
            tokens.append(("op", op))
        elif string is not None:
            tokens.append(("value", string.replace("''", "'")))
        elif call:
            tokens.append(("value", _status_function(call, scope.job_status)))
        elif name:
            tokens.append(("value", scope.lookup(name)))
        else:
            tokens.append(("value", int(number)))
    value, rest = _parse_or(tokens)
    if rest:
        raise ExpressionError(f"trailing tokens in {text!r}")
    return value


def _status_function(call: str, status: str) -> bool:
    name = call[:-2]
    if name == "always":
        return True
    if name == "success":
        return status == "success"
    if name == "failure":
        return status == "failure"
    if name == "cancelled":
        return status == "cancelled"
    raise ExpressionError(f"unknown function {call}")


def _loose_equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()  # Actions compares strings case-insensitively
    return left == right


def _parse_or(tokens):
    left, tokens = _parse_and(tokens)
    while tokens and tokens[0] == ("op", "||"):
        right, tokens = _parse_and(tokens[1:])
        left = left or right
    return left, tokens


def _parse_and(tokens):
    left, tokens = _parse_compare(tokens)
    while tokens and tokens[0] == ("op", "&&"):
        right, tokens = _parse_compare(tokens[1:])
        left = left and right
    return left, tokens


def _parse_compare(tokens):
    left, tokens = _parse_unary(tokens)
    while tokens and tokens[0] in (("op", "=="), ("op", "!=")):
        op = tokens[0][1]
        right, tokens = _parse_unary(tokens[1:])
        left = _loose_equal(left, right) if op == "==" else not _loose_equal(left, right)
    return left, tokens


def _parse_unary(tokens):
    if not tokens:
        raise ExpressionError("unexpected end of expression")
    if tokens[0] == ("op", "!"):
        value, tokens = _parse_unary(tokens[1:])
        return not value, tokens
    if tokens[0] == ("op", "("):
        value, tokens = _parse_or(tokens[1:])
        if not tokens or tokens[0] != ("op", ")"):
            raise ExpressionError("missing )")
        return value, tokens[1:]
    kind, value = tokens[0]
    if kind != "value":
        raise ExpressionError(f"unexpected {value!r}")
    return value, tokens[1:]


def render(template: str, scope: _Scope) -> str:
    """Replace every `${{ expr }}` in `template` with its value as a string."""

    def replace(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), scope)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _TEMPLATE.sub(replace, template)


def _uses_status_function(condition: str) -> bool:
    return bool(re.search(r"\b(always|success|failure|cancelled)\(\)", condition))


# --- running an action ---------------------------------------------------------------------


@dataclass
class StepRun:
    """What one step did."""

    name: str
    id: str | None
    skipped: bool
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    cancelled: bool = False


@dataclass
class CompletedJob:
    """A finished simulated job: conclusion, steps, outputs, summary and workflow commands."""

    conclusion: str
    steps: list[StepRun]
    outputs: dict[str, str]
    summary: str
    commands: list[WorkflowCommand]
    duration: float

    @property
    def log(self) -> str:
        """Return everything the steps printed (masked values replaced by ***)."""
        return "".join(step.stdout + step.stderr for step in self.steps)

    def annotations(self, level: str = "error") -> list[WorkflowCommand]:
        """Return the annotations of one level (`error`, `warning`, `notice`)."""
        return [c for c in self.commands if c.name == level]

    def step(self, step_id_or_name: str) -> StepRun:
        """Return the step with this id or name."""
        for step in self.steps:
            if step_id_or_name in (step.id, step.name):
                return step
        raise KeyError(step_id_or_name)


def _read_outputs(path: Path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file: `name=value` lines and `name<<DELIM` blocks."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1:end])
            index = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        index += 1
    return outputs


def _mask(text: str, masks: list[str]) -> str:
    for value in masks:
        if value:
            text = text.replace(value, "***")
    return text


@dataclass
class _Job:
    action_dir: Path
    workspace: Path
    env: dict[str, str]
    scope: _Scope
    scratch: Path
    deadline: float
    cancel_at: float | None
    cancel_grace: float
    commands: list[WorkflowCommand] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)


def run_action(action_dir: Path, inputs: dict[str, str], env: dict[str, str],
               workspace: Path, *, cancel_after: float | None = None,
               cancel_grace: float = 2.0, timeout: float = 120.0,
               github: dict[str, str] | None = None) -> CompletedJob:
    """Run the composite action in `action_dir` with `inputs`; return the finished job.

    `env` is the job's environment on top of the current one (use `github_env()` for the
    GITHUB_*/ACTIONS_* variables); GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY
    and GITHUB_ENV are set per step here. `github` adds to the github context (a workflow's
    job token as github.token, without putting it in any step's environment).
    """
    spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    assert spec["runs"]["using"] == "composite", "only composite actions are simulated"
    started = time.monotonic()
    github = {"token": env.get("GITHUB_TOKEN", ""), "workspace": str(workspace),
              "repository": env.get("GITHUB_REPOSITORY", ""),
              "run_id": env.get("GITHUB_RUN_ID", ""), "action_path": str(action_dir),
              **(github or {})}
    scope = _Scope({}, {}, "success", github)
    for name, declared in (spec.get("inputs") or {}).items():
        given = inputs.get(name)
        if given is None:
            given = render(str(declared.get("default", "")), scope)
        scope.inputs[name] = given
    unknown = set(inputs) - set(spec.get("inputs") or {})
    assert not unknown, f"action.yml declares no input {sorted(unknown)}"
    with tempfile.TemporaryDirectory(prefix="actions-sim-") as scratch:
        job = _Job(action_dir, workspace, {**os.environ, **env}, scope, Path(scratch),
                   started + timeout, started + cancel_after if cancel_after else None,
                   cancel_grace)
        steps = [_run_step(job, index, step)
                 for index, step in enumerate(spec["runs"]["steps"])]
    outputs = {name: render(str(declared.get("value", "")), scope)
               for name, declared in (spec.get("outputs") or {}).items()}
    return CompletedJob(scope.job_status, steps, outputs,
                        "".join(step.summary for step in steps), job.commands,
                        time.monotonic() - started)


def _run_step(job: _Job, index: int, step: dict[str, Any]) -> StepRun:
    name = step.get("name") or f"step {index + 1}"
    assert "run" in step, f"step {name!r}: only `run:` steps can be simulated"
    assert step.get("shell") == "bash", f"step {name!r}: composite steps need `shell: bash`"
    assert "${{" not in step["run"], f"step {name!r}: expressions inside run: are unsafe"
    condition = str(step.get("if", "success()")).strip()
    if condition.startswith("${{") and condition.endswith("}}"):
        condition = condition[3:-2]
    if not _uses_status_function(condition):
        condition = f"success() && ({condition})"
    if job.cancel_at is not None and time.monotonic() >= job.cancel_at:
        job.scope.job_status, job.cancel_at = "cancelled", None
    if not evaluate(condition, job.scope):
        return StepRun(name, step.get("id"), skipped=True)
    files = {key: job.scratch / f"{key}-{index}" for key in ("output", "summary", "env", "run")}
    files["run"].write_text(step["run"], encoding="utf-8")
    step_env = {**job.env, "GITHUB_ACTION_PATH": str(job.action_dir),
                "GITHUB_OUTPUT": str(files["output"]),
                "GITHUB_STEP_SUMMARY": str(files["summary"]),
                "GITHUB_ENV": str(files["env"]), "GITHUB_WORKSPACE": str(job.workspace)}
    step_env.update({key: render(str(value), job.scope)
                     for key, value in (step.get("env") or {}).items()})
    for path in ("output", "summary", "env"):
        files[path].touch()
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(files["run"])],
        cwd=job.workspace, env=step_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    cancelled = _wait(job, process)
    stdout, stderr = process.communicate()
    run = StepRun(name, step.get("id"), skipped=False, returncode=process.returncode,
                  outputs=_read_outputs(files["output"]),
                  summary=files["summary"].read_text(encoding="utf-8"), cancelled=cancelled)
    commands = parse_commands(stdout)
    job.masks += [c.message for c in commands if c.name == "add-mask"]
    job.commands += [c for c in commands if c.name != "add-mask"]
    run.stdout, run.stderr = _mask(stdout, job.masks), _mask(stderr, job.masks)
    job.env.update(_read_outputs(files["env"]))
    if step.get("id"):
        job.scope.steps[step["id"]] = {**run.outputs,
                                       "__outcome": _outcome(run), "__conclusion": _outcome(run)}
    if cancelled:
        job.scope.job_status = "cancelled"
    elif process.returncode != 0 and job.scope.job_status == "success":
        job.scope.job_status = "failure"
    return run


def _outcome(run: StepRun) -> str:
    if run.cancelled:
        return "cancelled"
    return "success" if run.returncode == 0 else "failure"


def _wait(job: _Job, process: subprocess.Popen) -> bool:
    """Wait for the step; cancel it like GitHub does when the job is cancelled or too slow."""
    while process.poll() is None:
        now = time.monotonic()
        if job.cancel_at is not None and now >= job.cancel_at:
            _cancel(process, job.cancel_grace)
            job.cancel_at = None  # the job is cancelled once; its always() steps still run
            return True
        if now >= job.deadline:
            _cancel(process, 0.5)
            return True
        time.sleep(0.02)
    return False


def _cancel(process: subprocess.Popen, grace: float) -> None:
    """Send SIGINT, then SIGTERM, then SIGKILL to the step's group, like the runner."""
    for signum, wait in ((signal.SIGINT, grace), (signal.SIGTERM, grace / 2),
                         (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- the runner's environment and local servers --------------------------------------------


def github_env(workspace: Path, *, repository: str = "octo/repo", run_id: int = 4242,
               server_url: str = "https://github.example", oidc: OidcServer | None = None,
               ) -> dict[str, str]:
    """Return the GITHUB_*/ACTIONS_*/RUNNER_* variables a hosted runner gives a job."""
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
           "GITHUB_REPOSITORY": repository, "GITHUB_RUN_ID": str(run_id),
           "GITHUB_RUN_ATTEMPT": "1", "GITHUB_SERVER_URL": server_url,
           "GITHUB_EVENT_NAME": "workflow_dispatch", "RUNNER_TEMP": str(workspace.parent),
           "RUNNER_OS": "Linux"}
    if oidc is not None:
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"{oidc.url}/token?api-version=2.0"
        env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = oidc.request_token
    return env


@dataclass(frozen=True)
class Received:
    """One request a local server got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 with a port of its own, recording requests."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                split = urlsplit(self.path)
                received = Received(self.command, split.path, parse_qs(split.query),
                                    {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length) if length else b"")
                if owner.keeps(received):
                    owner.requests.append(received)
                status, body = owner.answer(received)
                if status is None:  # never answer: hold the connection until shutdown
                    owner.stopping.wait(60)
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def keeps(self, received: Received) -> bool:
        """Return True for a request `requests` records (all, unless a server says not)."""
        return True

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, request: Received) -> tuple[int | None, Any]:
        """Return (status, JSON body) for a request; status None never answers."""
        raise NotImplementedError

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class OidcServer(_Server):
    """The runner's OIDC token endpoint: hands out `jwt-for:<audience>` tokens."""

    request_token = "oidc-request-token"

    def answer(self, request: Received) -> tuple[int | None, Any]:
        """Answer a token request, checking the runner's bearer request token."""
        if request.headers.get("authorization") != f"bearer {self.request_token}":
            return 401, {"message": "bad request token"}
        audience = (request.query.get("audience") or [""])[0]
        return 200, {"value": self.token_for(audience)}

    @staticmethod
    def token_for(audience: str) -> str:
        """Return the token this endpoint issues for `audience`."""
        return f"jwt-for:{audience}"


class CallbackServer(_Server):
    """The ccs callback: answers each POST with the next scripted status (201 when done).

    A scripted status of None never answers that request.
    """

    def __init__(self, statuses: list[int | None] | None = None) -> None:
        super().__init__()
        self.statuses = list(statuses or [])
        self.results: list[Received] = []
        self.progress: list[Received] = []  # attempt boundaries: kept apart, always 202

    def keeps(self, received: Received) -> bool:
        """Record result posts in `requests`; attempt boundaries go to `progress`."""
        if received.path.endswith("/progress"):
            self.progress.append(received)
            return False
        return True

    def answer(self, request: Received) -> tuple[int | None, Any]:
        """Answer with the next scripted status; record the results accepted."""
        if request.path.endswith("/progress"):
            return 202, {"status": "accepted"}
        status = self.statuses.pop(0) if self.statuses else 201
        if status is not None and 200 <= status < 300:
            self.results.append(request)
        return status, {"status": status}
