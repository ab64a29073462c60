"""The test GitHub: one shared, stateful, HTTP-level fake of the GitHub API.

It represents the state of GitHub (repositories backed by local bare git repositories,
people, issues, comments, runs, pull requests, apps) and records every call, serving the
REST API on 127.0.0.1 so the real PyGithub-based adapter talks to it through `base_url`.

    with FakeGitHub.start(tmp_path) as gh:
        gh.create_repository("octo/shop", files={"README.md": "hi"})
        gh.add_user("alice", permission="write", repo="octo/shop")
        token = gh.add_token()
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.fakes.github_actions import (
    JobRunner,
    RunSimulator,
    job_name,
    matrix_entries,
    register_actions_routes,
    register_oidc_routes,
)
from tests.fakes.github_git import BareRepo
from tests.fakes.github_git_http import GIT_PREFIX, RefusedPush, register_git_http
from tests.fakes.github_holds import Hold, Holds, arm_receive_hook, register_receive_route
from tests.fakes.github_http import ApiError, Call, Fault, HttpLayer
from tests.fakes.github_oidc import OidcGrant, OidcIssuer
from tests.fakes.github_render import Renderer
from tests.fakes.github_routes import (
    register_core_routes,
    register_git_routes,
    register_issue_routes,
    register_pull_routes,
)
from tests.fakes.github_runner import ActionJobRunner
from tests.fakes.github_schema import OpenApiChecker
from tests.fakes.github_state import (
    PERMISSIONS,
    App,
    Comment,
    Installation,
    Issue,
    IssuedToken,
    Job,
    PullRequest,
    Repository,
    User,
    Workflow,
    WorkflowRun,
)
from tests.fakes.github_webhooks import (
    Delivery,
    WebhookTarget,
    deliver,
    edit_repository,
    edit_sender,
    recorded_payload,
)

T = TypeVar("T")
_WRITE = ("write", "maintain", "admin")
WEBHOOK_SECRET = "webhook-secret"
_SHARED_CHECKER = OpenApiChecker()

__all__ = ["ActionJobRunner", "Call", "FakeGitHub", "JobRunner", "WorkflowRun"]


class _QuietHandler(WSGIRequestHandler):
    """Keep the access log out of test output (`calls` records every request)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Log nothing."""


class FakeGitHub:
    """State of a GitHub, served over loopback HTTP; build it with `FakeGitHub.start`."""

    def __init__(
        self,
        root: Path,
        *,
        strict: bool = True,
        webhook_url: WebhookTarget | None = None,
        webhook_secret: str = WEBHOOK_SECRET,
        oidc_issuer: str | None = None,
        job_runner: JobRunner | str | None = "action",
        token_ttl: float = 3600,
        max_parallel: int = 8,
        git_http: bool = False,
    ) -> None:
        """Prepare an empty GitHub under `root`; `start` serves it (see the class doc).

        `git_http`: clone URLs are served over HTTP with GitHub's token rules (a job's
        `contents: read` token cannot push); else they are the bare repositories' paths.
        """
        self.root = Path(root) / "fake-github"
        self.root.mkdir(parents=True, exist_ok=True)
        self.strict = strict
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.token_ttl = token_ttl
        self.dispatch_details_unsupported: int | None = None
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.schema_errors: list[str] = []
        self.deliveries: list[Delivery] = []
        self.log_downloads = 0  # job logs fetched through their signed links
        self.checker = _SHARED_CHECKER
        self._repos: dict[str, Repository] = {}
        self._users: dict[str, User] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._apps: dict[int, App] = {}
        self._installations: dict[int, Installation] = {}
        self._comments: dict[int, Comment] = {}
        self._runs: dict[int, WorkflowRun] = {}
        self._faults: list[Fault] = []
        self.git_http = git_http
        self.refused_pushes: list[RefusedPush] = []
        self.artifacts: dict[tuple[int, str], Path] = {}
        self.holds = Holds()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.render = Renderer("")
        self._issuer_option = oidc_issuer
        self.oidc = OidcIssuer(oidc_issuer or "")
        self.job_runner: JobRunner | None = (
            ActionJobRunner(self) if job_runner == "action" else job_runner  # type: ignore[assignment]
        )
        self.simulator = RunSimulator(self, max_parallel)
        self.http = HttpLayer(self)
        for register in (register_core_routes, register_issue_routes, register_git_routes,
                         register_pull_routes, register_actions_routes, register_oidc_routes):
            register(self.http, self)
        register_git_http(self)
        register_receive_route(self.http.app)

    # ----- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path, **options: Any) -> FakeGitHub:
        """Create a fake under `root` and serve it on 127.0.0.1 (a free port)."""
        fake = cls(root, **options)
        fake.serve()
        return fake

    def serve(self) -> None:
        """Start the HTTP server in a background thread."""
        self._server = make_server("127.0.0.1", 0, self.http.app, threaded=True,
                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.render.api = self.url
        self.oidc.issuer = self._issuer_option or f"{self.url}/_oidc"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-github", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for running jobs."""
        self.holds.release_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.simulator.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FakeGitHub:
        """Return the running fake."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the fake."""
        self.stop()

    @property
    def oidc_jwks_url(self) -> str:
        """Return where the OIDC signing keys are published."""
        return f"{self.url}/_oidc/.well-known/jwks"

    # ----- arranging state -------------------------------------------------------------

    def create_repository(
        self, full_name: str, files: dict[str, str | bytes] | None = None,
        default_branch: str = "main", private: bool = False,
        workflows: dict[str, str] | None = None,
    ) -> Repository:
        """Create a repository backed by a bare git repo with one commit of `files`."""
        owner_login = full_name.split("/", 1)[0]
        git = BareRepo.create(self.root / "git" / f"{full_name}.git", files or {},
                              default_branch)
        with self.lock:
            owner = self._users.get(owner_login) or self.add_user(owner_login)
            repo = Repository(full_name, default_branch, git, owner, private=private)
            for file_name, name in (workflows or {"ccs.yml": "ccs"}).items():
                repo.workflows[file_name] = Workflow(file_name, name)
            repo.permissions[owner_login] = "admin"
            self._repos[full_name] = repo
        return repo

    def add_user(self, login: str, permission: str | None = None, repo: str | None = None,
                 kind: str = "User") -> User:
        """Add (or find) an account; with `repo`, give it `permission` there."""
        with self.lock:
            user = self._users.setdefault(login, User(login, type=kind))
            if repo is not None:
                if permission not in PERMISSIONS:
                    raise ValueError(f"permission must be one of {PERMISSIONS}")
                self._repos[repo].permissions[login] = permission
        return user

    def add_token(self, value: str | None = None, login: str = "ccs-bot",
                  ttl: float | None = None, permissions: dict[str, str] | None = None,
                  repositories: list[str] | None = None) -> str:
        """Accept `value` (or a fresh token) as a token acting as `login`; return it.

        `permissions` (e.g. a job's `{"contents": "read"}`) limits what it may write.
        """
        value = value or "ghp_" + secrets.token_hex(18)
        with self.lock:
            kind = "Bot" if login.endswith("[bot]") else "User"
            self._users.setdefault(login, User(login, type=kind))
            expires = time.time() + ttl if ttl is not None else None
            self._tokens[value] = IssuedToken(value, None, expires, repositories, login,
                                              dict(permissions) if permissions else None)
        return value

    def token_info(self, value: str) -> IssuedToken | None:
        """Return the token the fake issued as `value`, if it is still valid."""
        token = self._tokens.get(value.strip())
        if token is None or (token.expires_at is not None and token.expires_at < time.time()):
            return None
        return token

    def may_write(self, token: IssuedToken, repo: Repository, scope: str = "contents") -> bool:
        """Tell whether `token` may write `scope` (contents, pull_requests, ...) of `repo`."""
        if token.repositories is not None and repo.full_name not in token.repositories:
            return False
        if token.permissions is not None:
            return token.permissions.get(scope) == "write"
        if token.installation_id is not None:
            return True
        permission = repo.permissions.get(token.login)
        return permission is None or permission in _WRITE

    def register_app(self, app_id: int, public_key_pem: str | bytes, slug: str = "ccs") -> App:
        """Register a GitHub App whose JWTs are verified with `public_key_pem`."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        with self.lock:
            app = self._apps[app_id] = App(app_id, pem, slug)
            self._users.setdefault(f"{slug}[bot]", User(f"{slug}[bot]", type="Bot"))
        return app

    def add_installation(self, app_id: int, account: str, repositories: list[str],
                         installation_id: int | None = None) -> Installation:
        """Install app `app_id` on `account` for `repositories`."""
        with self.lock:
            owner = self._users.get(account) or self.add_user(account)
            installation = Installation(app_id, owner, list(repositories))
            if installation_id is not None:
                installation.id = installation_id
            self._installations[installation.id] = installation
        return installation

    def set_secret(self, repo: str, name: str, value: str) -> None:
        """Store an Actions repository secret (a workflow reads it as secrets.<name>)."""
        with self.lock:
            self._repos[repo].secrets[name] = value

    def create_issue(self, repo: str, title: str = "Implement it", body: str = "",
                     user: str = "alice", labels: list[str] | None = None) -> Issue:
        """Open an issue and return it."""
        with self.lock:
            found = self._repos[repo]
            issue = Issue(found.next_number(), title, body, self.add_user(user),
                          list(labels or []))
            found.issues[issue.number] = issue
        return issue

    def add_comment(self, repo: str, issue: int, body: str, user: str = "alice") -> Comment:
        """Add a comment to the state (no webhook; see `comment_payload`)."""
        with self.lock:
            comment = Comment(repo, issue, body, self.add_user(user))
            self._comments[comment.id] = comment
        return comment

    def commit_files(self, repo: str, branch: str, files: dict[str, str | bytes],
                     message: str = "Update files") -> str:
        """Commit `files` on `branch` as somebody pushing would; return the new sha.

        A branch that does not exist yet starts at the default branch.
        """
        with self.lock:
            found = self._repos[repo]
            start = f"refs/heads/{found.default_branch}"
            return found.git.commit_files(branch, files, message, start)

    # ----- looking at state ------------------------------------------------------------

    def repository(self, repo: str) -> Repository:
        """Return a repository's state."""
        return self._repos[repo]

    def clone_url(self, repo: str) -> str:
        """Return the URL git clones and pushes `repo` with (over HTTP, or its bare path)."""
        if self.git_http:
            return f"{self.url}{GIT_PREFIX}{repo}.git"
        return self._repos[repo].git.path.as_uri()

    def comments(self, repo: str, issue: int) -> list[Comment]:
        """Return an issue's comments, oldest first."""
        with self.lock:
            return [c for c in self._comments.values() if c.repo == repo and c.issue == issue]

    def pull_requests(self, repo: str) -> list[PullRequest]:
        """Return a repository's pull requests, by number."""
        with self.lock:
            return sorted(self._repos[repo].pulls.values(), key=lambda pull: pull.number)

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """Return the commit `branch` points to, or None."""
        return self._repos[repo].git.ref_sha(f"refs/heads/{branch}")

    def read_file(self, repo: str, ref: str, path: str) -> str | None:
        """Return a file's text at a branch or sha, or None."""
        git = self._repos[repo].git
        sha = git.ref_sha(f"refs/heads/{ref}") or ref
        data = git.read_file(sha, path)
        return None if data is None else data.decode()

    def runs(self, repo: str | None = None) -> list[WorkflowRun]:
        """Return workflow runs (of `repo`), oldest first."""
        with self.lock:
            return [run for run in self._runs.values() if repo in (None, run.repo)]

    def job_for(self, run: WorkflowRun, entry: dict[str, Any]) -> Job:
        """Return the job of `run` created for matrix `entry`."""
        return next(job for job in run.jobs if job.entry is entry)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10,
                 interval: float = 0.02) -> T:
        """Poll `predicate` until it returns something truthy.

        Fail only after `timeout` seconds in which this GitHub saw no request and sent no
        webhook: waiting is driven by what happens, so a loaded machine is slower, not red.
        """
        def activity() -> tuple[int, int]:
            return len(self.calls), len(self.deliveries)
        deadline, last = time.monotonic() + timeout, activity()
        while True:
            value = predicate()
            if value:
                return value
            if (now := activity()) != last:
                last, deadline = now, time.monotonic() + timeout
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s of no activity")
            time.sleep(interval)

    # ----- faults and records ----------------------------------------------------------

    def fail_next(self, method: str, path_pattern: str | re.Pattern[str], status: int,
                  times: int = 1, headers: dict[str, str] | None = None,
                  body: Any = None) -> None:
        """Answer the next `times` matching requests with `status` (glob or regex path)."""
        with self.lock:
            self._faults.append(Fault(method.upper(), path_pattern, status, times,
                                      dict(headers or {}), body))

    def fail_secondary_rate_limit(self, method: str, path_pattern: str,
                                  retry_after: int = 1) -> None:
        """Answer the next matching request like GitHub's secondary rate limit."""
        self.fail_next(method, path_pattern, 403, headers={"Retry-After": str(retry_after)},
                       body={"message": "You have exceeded a secondary rate limit. Please "
                                        "wait a few minutes before you try again.",
                             "documentation_url": "https://docs.github.com/rest/overview/"
                                                  "rate-limits-for-the-rest-api"})

    def hold(self, name: str, method: str, path_pattern: str, times: int = 1) -> Hold:
        """Hold the next `times` matching requests until released (see github_holds)."""
        return self.holds.add(name, method, path_pattern, times)

    def hold_push(self, name: str, repo: str, branch_pattern: str = "*") -> Hold:
        """Hold the next `git push` to `repo` whose first ref matches `refs/heads/<pattern>`."""
        git_dir = self._repos[repo].git.path
        arm_receive_hook(git_dir, f"{self.url}/_git/{repo}/receive")
        return self.hold(name, "POST", f"/_git/{repo}/receive/refs/heads/{branch_pattern}")

    def pushes(self, repo: str) -> list[Call]:
        """Return the pushes to `repo` that reached its pre-receive hook (see hold_push)."""
        return self.calls_to("POST", f"/_git/{repo}/receive/*")

    def calls_to(self, method: str, path_pattern: str | re.Pattern[str]) -> list[Call]:
        """Return the recorded calls matching a method and a glob (or regex) path."""
        probe = Fault(method.upper(), path_pattern, 0, 0)
        with self.lock:
            return [call for call in self.calls if probe.matches(call.method, call.path)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching a request."""
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, call: Call) -> None:
        """Keep a call."""
        with self.lock:
            self.calls.append(call)

    def _schema_problems(self, problems: list[str]) -> None:
        """Keep schema violations."""
        if problems:
            with self.lock:
                self.schema_errors.extend(problems)

    # ----- access control (used by the routes) -----------------------------------------

    def _token_user(self, token: IssuedToken) -> User:
        """Return who a token acts as."""
        if token.installation_id is not None:
            installation = self._installations[token.installation_id]
            return self._app_user(installation.app_id)
        return self._users[token.login]

    def _app_user(self, app_id: int) -> User:
        """Return the bot account of an app."""
        return self._users[f"{self._apps[app_id].slug}[bot]"]

    def _visible_repo(self, owner: str, name: str) -> Repository:
        """Return a repository the caller may see, else raise 404 as GitHub does."""
        from flask import g

        repo = self._repos.get(f"{owner}/{name}")
        token: IssuedToken | None = getattr(g, "token", None)
        if repo is None or (token is not None and token.repositories is not None
                            and repo.full_name not in token.repositories):
            raise ApiError(404, "Not Found")
        return repo

    def _writable_repo(self, owner: str, name: str, scope: str = "contents") -> Repository:
        """Return a repository the caller may write (`scope` of it), else 404/403."""
        from flask import g

        repo = self._visible_repo(owner, name)
        token: IssuedToken | None = getattr(g, "token", None)
        # A job's token writes only what its `permissions:` grant (GitHub answers 403).
        if token is not None and token.permissions is not None and not self.may_write(
                token, repo, scope):
            raise ApiError(403, "Resource not accessible by integration")
        # A plain token writes unless its user was given a lesser permission on the repo.
        if token is not None and token.installation_id is None:
            permission = repo.permissions.get(token.login)
            if permission is not None and permission not in _WRITE:
                raise ApiError(403, "Resource not accessible by personal access token")
        return repo

    # ----- Actions ---------------------------------------------------------------------

    def _start_run(self, repo: Repository, workflow: Workflow, ref: str,
                   inputs: dict[str, str], actor: User) -> WorkflowRun:
        """Record a dispatched run with one job per matrix entry and start it."""
        with self.lock:
            head_sha = repo.git.ref_sha(f"refs/heads/{ref}") or repo.git.ref_sha(ref) or ""
            number = 1 + sum(1 for run in self._runs.values() if run.workflow is workflow)
            run = WorkflowRun(repo.full_name, workflow, ref, head_sha, dict(inputs),
                              f"ccs {inputs.get('session', '')}".strip(), number, actor)
            entries = matrix_entries(inputs)
            if len(entries) > 256:
                run.status, run.conclusion = "completed", "failure"
            else:
                run.jobs = [Job(run.id, job_name(entry), entry) for entry in entries]
            self._runs[run.id] = run
        self.simulator.start(run)
        return run

    def finish_jobs(self, conclusion: str = "success", repo: str | None = None) -> int:
        """Complete every unfinished job (of `repo`) with `conclusion`; return how many."""
        pending = [(run, job) for run in self.runs(repo) for job in run.jobs
                   if job.status != "completed"]
        for run, job in pending:
            self.simulator.finish(run, job, conclusion)
        return len(pending)

    def finish_job(self, run: WorkflowRun, job: Job, conclusion: str = "success") -> None:
        """Complete one job (sends `workflow_job`, and `workflow_run` when it was the last)."""
        self.simulator.finish(run, job, conclusion)

    def cancel_run(self, run: WorkflowRun) -> None:
        """Cancel a run: jobs that have not started finish as cancelled."""
        with self.lock:
            run.cancel_requested = True
            queued = [job for job in run.jobs if job.status == "queued"]
        for job in queued:
            self.simulator.finish(run, job, "cancelled")

    def oidc_token(self, repo: str, run_id: int, audience: str, **claims: Any) -> str:
        """Mint an Actions ID token for a run of `repo` (extra `claims` override)."""
        run = self._runs.get(run_id)
        ref = f"refs/heads/{run.ref if run else self._repos[repo].default_branch}"
        grant = OidcGrant(repo, run_id, ref, run.head_sha if run else "", "ccs.yml",
                          run.actor.login if run else "ccs-bot")
        return self.oidc.token(grant, audience, **claims)

    # ----- webhooks --------------------------------------------------------------------

    def send_webhook(self, event: str, payload: dict[str, Any]) -> int:
        """Deliver a signed webhook to `webhook_url` (if set); return the HTTP status."""
        if self.webhook_url is None:
            delivery = Delivery(event, "", payload, 0)
        else:
            delivery = deliver(self.webhook_url, self.webhook_secret, event, payload)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery.status

    def comment_payload(self, repo: str, issue: int, body: str, user: str = "alice",
                        record: bool = True) -> dict[str, Any]:
        """Return an `issue_comment.created` payload (adding the comment to the state)."""
        payload = recorded_payload("issue_comment.created.0.json")
        comment = (self.add_comment(repo, issue, body, user) if record
                   else Comment(repo, issue, body, self.add_user(user)))
        payload["comment"] = {**payload["comment"], **self.render.comment(comment)}
        return self._issue_payload(payload, repo, issue, user)

    def label_payload(self, repo: str, issue: int, label: str,
                      user: str = "alice") -> dict[str, Any]:
        """Return an `issues.labeled` payload (adding the label to the issue)."""
        payload = recorded_payload("issues.labeled.9.json")
        with self.lock:
            found = self._repos[repo].issues[issue]
            if label not in found.labels:
                found.labels.append(label)
        payload["label"] = {**payload["label"], "name": label}
        return self._issue_payload(payload, repo, issue, user)

    def _issue_payload(self, payload: dict[str, Any], repo: str, issue: int,
                       user: str) -> dict[str, Any]:
        """Point a recorded issue event at `repo`, `issue` and `user`."""
        found = self._repos[repo]
        if issue in found.issues:
            payload["issue"] = {**payload["issue"], **self.render.issue(found, found.issues[issue])}
        edit_repository(payload, self.render.repository(found, self.clone_url(repo)))
        edit_sender(payload, self.render.user(self.add_user(user)))
        return payload
