"""`python -m action job`: one matrix entry inside GitHub Actions, from checkout to callback.

The job never pushes: its commit travels in the result as a git bundle (DESIGN §6a).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from action import actions_io, gitops
from action.actions_io import GroupedConsole, JobEnv
from action.callback import (
    DeliveryError,
    RetryPolicy,
    http,
    post_result,
    request_oidc_token,
    result_url,
)
from action.commands import trap_signals
from action.joblink import find_job
from action.progress import ProgressFile, ProgressPost
from action.reaper import become_subreaper
from action.report import RunResult, empty_counts
from action.runner import SECRET_ENV, Runner, run_component, run_verify
from action.spec import (
    MAX_BUNDLE_CHARS,
    InputError,
    RunConfig,
    load_json,
    parse_component_entry,
    parse_config,
    parse_verify_entry,
)
from action.transcript import Transcript
from action.usage import describe_usage, spent_anything

CHECKOUT_DIR = "ccs-checkout"
EXIT_UNDELIVERED = 1
EXIT_BAD_INPUT = 2


def log(message: str) -> None:
    """Print one progress line to the job log."""
    print(f"ccs: {message}", flush=True)


@dataclass(frozen=True)
class EntryIdentity:
    """Who a result is about, read leniently so even a broken entry can be reported."""

    child: str | None
    component: str
    branch: str | None
    callback_token: str | None = None


def entry_identity(env: JobEnv) -> EntryIdentity:
    """Return the child id, component and result branch the entry names, as far as it can."""
    try:
        body = load_json(env.entry, "entry")
    except InputError:
        body = None
    if not isinstance(body, dict):
        body = {}

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) and value else None

    # A per-child callback token may also travel in the entry (CCS_CALLBACK_AUTH=token).
    token = text("callback_token")
    if env.mode == "verify":
        return EntryIdentity(text("child"), "verify", text("ref"), token)
    return EntryIdentity(text("child"), text("component") or "", text("child_branch"), token)


def checkout(env: JobEnv, branch: str, workdir: Path) -> None:
    """Fetch `branch` from the repository into a fresh `workdir`, detached at its head."""
    if workdir.exists():
        # Self-hosted runners keep the workspace; start from nothing every time.
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    auth = gitops.auth_env(env.token)
    gitops.git(workdir, "init", "-q")
    gitops.git(workdir, "remote", "add", "origin", env.repo_url)
    try:
        gitops.git(workdir, "fetch", "-q", "--no-tags", "--depth=1", "origin",
                   f"+refs/heads/{branch}:refs/remotes/origin/{branch}", env=auth)
    except gitops.GitError as error:
        raise gitops.GitError(f"could not fetch branch {branch!r}: {error}") from None
    gitops.git(workdir, "checkout", "-q", "--detach", f"refs/remotes/origin/{branch}")


def attach_bundle(workdir: Path, start: str, result: RunResult) -> None:
    """Put the child commit in the result as a base64 bundle: the job holds no write token
    (DESIGN §6a), so ccs pushes the child branch itself. Nothing changed: no bundle."""
    if (result.status != "succeeded" or not result.branch or not result.commit
            or result.commit == start):
        return  # a failed child is run again, never merged: its work need not travel
    with tempfile.TemporaryDirectory(prefix="ccs-bundle-") as scratch:
        data = gitops.bundle(workdir, result.branch, start, Path(scratch) / "child.bundle")
    encoded = base64.b64encode(data).decode()
    if len(encoded) > MAX_BUNDLE_CHARS:
        result.status = "failed"
        result.message = (f"{result.message}; the child commit is {len(encoded) / 2**20:.1f} "
                          f"MiB as a bundle, more than the {MAX_BUNDLE_CHARS // 2**20} MiB a "
                          "result may carry: keep large or generated files out of the "
                          "component's changes")
        return
    result.extra["bundle"] = encoded
    log(f"the child commit {result.commit[:12]} travels as a {len(data):,}-byte bundle")


def transcript_for(env: JobEnv, config: RunConfig) -> Transcript:
    """Return the transcript the artifact is made of, masking every secret the job holds."""
    folder = os.environ.get("CCS_TRANSCRIPT_DIR")
    names = config.coder.env if config.coder else ()
    secrets = [os.environ.get(name, "") for name in (*names, *SECRET_ENV)]
    secrets += [env.token or "", env.callback_token or ""]
    for name in names:
        if os.environ.get(name):
            actions_io.mask(os.environ[name])  # GitHub masks secrets.*; a copy may not be
    return Transcript(Path(folder) if folder else None, secrets)


def run_entry(env: JobEnv, cancel: threading.Event) -> RunResult:
    """Check out, run the loop or verify, bundle; turn every failure into a failed result."""
    workdir = env.workspace / CHECKOUT_DIR
    try:
        config = parse_config(load_json(env.config, "config"))
        transcript = transcript_for(env, config)
        if env.mode == "verify":
            verify = parse_verify_entry(load_json(env.entry, "entry"))
            checkout(env, verify.ref, workdir)
            return _run(workdir, env, cancel, transcript,
                        lambda runner: run_verify(verify, config, runner))
        entry = parse_component_entry(load_json(env.entry, "entry"))
        if not env.branch:
            raise InputError("CCS_JOB_BRANCH (the session branch) is empty")
        checkout(env, env.branch, workdir)
        start = gitops.head(workdir)
        result = _run(workdir, env, cancel, transcript,
                      lambda runner: run_component(entry, config, runner),
                      progress=_progress_sender(env))
        try:
            attach_bundle(workdir, start, result)
        except gitops.GitError as error:
            result.status = "failed"
            result.message = f"{result.message}; could not bundle the child commit: {error}"
        return result
    except (InputError, gitops.GitError) as error:
        return failed_result(str(error), entry_identity(env))
    except Exception as error:  # noqa: BLE001 - whatever happens, the service must hear of it
        return failed_result(f"the job crashed: {type(error).__name__}: {error}",
                             entry_identity(env))


def _run(workdir: Path, env: JobEnv, cancel: threading.Event, transcript: Transcript,
         body: Callable[[Runner], RunResult],
         progress: ProgressPost | None = None) -> RunResult:
    runner = Runner(session=env.session, workdir=workdir, cancel=cancel,
                    console=GroupedConsole(), echo=sys.stdout.buffer, transcript=transcript,
                    progress=progress or ProgressFile(None))
    try:
        return body(runner)
    finally:
        runner.close()


def failed_result(message: str, identity: EntryIdentity) -> RunResult:
    """Return a failed result for a job that could not run its entry."""
    return RunResult("failed", None, identity.branch, 0, empty_counts(), [], message,
                     component=identity.component)


def deliver(env: JobEnv, identity: EntryIdentity, body: dict) -> str:
    """Post the result with the per-child token or an OIDC token; raise DeliveryError."""
    if not env.callback:
        raise DeliveryError("no callback URL (CCS_JOB_CALLBACK is empty)")
    assert identity.child is not None
    policy = RetryPolicy.from_env()
    bearer = _bearer(env, identity, policy)
    return post_result(result_url(env.callback, identity.child), body, bearer, policy, log)


def _bearer(env: JobEnv, identity: EntryIdentity, policy: RetryPolicy) -> str:
    """Return the per-child token, or a fresh OIDC token (each is good for one request)."""
    bearer = env.callback_token or identity.callback_token
    if not bearer:
        if not (env.id_token_url and env.id_token_request_token):
            raise DeliveryError("no OIDC token available: give the job "
                                "`permissions: id-token: write`")
        bearer = request_oidc_token(env.id_token_url, env.id_token_request_token,
                                    env.callback, policy, log)
        actions_io.mask(bearer)
    return bearer


# An attempt boundary is worth one quick try, never the result's patience.
PROGRESS_POLICY = RetryPolicy(tries=1, delay=1.0, budget=5.0, timeout=5.0)


def _progress_sender(env: JobEnv) -> ProgressPost | None:
    """Return what posts the attempt boundaries to the service, or None without a callback."""
    identity = entry_identity(env)
    if not env.callback or identity.child is None:
        return None
    url = result_url(env.callback, identity.child).removesuffix("/result") + "/progress"

    def send(body: dict) -> None:
        bearer = _bearer(env, identity, PROGRESS_POLICY)
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json",
                   "User-Agent": "ccs-action"}
        answer = http("POST", url, headers, json.dumps(body).encode(), PROGRESS_POLICY.timeout)
        if not 200 <= answer.status < 300:
            raise DeliveryError(f"HTTP {answer.status}")

    return ProgressPost(send, log)


def report(env: JobEnv, result: RunResult) -> None:
    """Write the step summary, outputs and annotations for a result."""
    actions_io.append_summary(summary_markdown(result))
    actions_io.set_output("status", result.status)
    actions_io.set_output("commit", result.commit or "")
    actions_io.set_output("attempts", str(result.attempts))
    if result.status == "succeeded":
        actions_io.annotate("notice", result.message, title=f"ccs {result.component}")
        return
    title = f"ccs {result.component or env.mode}"
    shown = result.failed_tests[: actions_io.MAX_ANNOTATIONS - 1]
    for failed in shown:
        actions_io.annotate("error", failed.message or f"{failed.kind} in {failed.name}",
                            title=f"{title}: {failed.name}", file=failed.file,
                            line=failed.line)
    actions_io.annotate("error", result.message, title=title)


def summary_markdown(result: RunResult) -> str:
    """Return the step summary for one entry."""
    cell = actions_io.markdown_cell
    icon = "✅" if result.status == "succeeded" else "❌"
    tests = result.tests
    lines = [f"### {icon} ccs {cell(result.component or 'job')}: {result.status}", "",
             "| attempts | passed | failed | errors | skipped | commit |",
             "|---|---|---|---|---|---|",
             f"| {result.attempts} | {tests['passed']} | {tests['failed']} | "
             f"{tests['errors']} | {tests['skipped']} | `{(result.commit or '-')[:12]}` |",
             "", cell(result.message)]
    if spent_anything(result.usage):
        lines += ["", f"Usage: {cell(describe_usage(result.usage))}"]
    if result.failed_tests:
        lines += ["", "Failing tests:", ""]
        lines += [f"- `{cell(t.classname + '::' + t.name)}` — {cell(t.message[:200])}"
                  for t in result.failed_tests[:50]]
    return "\n".join(lines) + "\n"


def main(fallback: bool = False) -> int:
    """Run the job from its environment; exit 0 if it succeeded, 1 if not or undelivered."""
    try:
        env = actions_io.read_job_env()
    except InputError as error:
        actions_io.annotate("error", f"ccs: bad job input: {error}")
        return EXIT_BAD_INPUT
    identity = entry_identity(env)
    for secret in (env.callback_token, identity.callback_token):
        if secret:
            actions_io.mask(secret)
    if identity.child is None:
        actions_io.annotate("error", "ccs: cannot report: CCS_JOB_ENTRY names no child id")
        return EXIT_BAD_INPUT
    if fallback:
        outcome = os.environ.get("CCS_JOB_STEP_OUTCOME") or "did not run"
        result = failed_result(f"the runner step ended ({outcome}) before it reported",
                               identity)
    else:
        cancel = threading.Event()
        trap_signals(cancel)
        become_subreaper()
        result = run_entry(env, cancel)
        report(env, result)
    link, job_id = find_job(os.environ, env.token, identity.child, identity.component)
    body = {**result.to_json(), "run_id": env.run_id, "log_url": link or env.log_url,
            "job_id": job_id}
    body = {key: value for key, value in body.items()
            if value is not None or key in ("commit", "branch")}
    # From here on a fallback step would only repeat this delivery, so tell it not to.
    actions_io.set_output("report_attempted", "true")
    try:
        outcome = deliver(env, identity, body)
    except DeliveryError as error:
        actions_io.annotate("error", f"the result could not be delivered to ccs: {error}",
                            title="ccs: result not delivered")
        return EXIT_UNDELIVERED
    log(f"result {outcome} ({result.status}: {result.message})")
    actions_io.set_output("reported", "true")
    return 0 if result.status == "succeeded" else 1
