"""A fake ServiceRuntime: the orchestrator of a local `Project` plus a recording RepoGitHub.

    stage = ServiceStage.create(tmp_path, {"isbn": 20, "money": 10})
    client = stage.app.test_client()
    client.post("/webhooks/github", **stage.webhook("issue_comment", payload))
    assert stage.github.replies == [...]
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from service.bootstrap import service
from service.config import Config
from service.orchestrator.bus import MessageBus
from service.web.app import create_app
from service.web.signature import sign
from tests.fakes.local import Project
from tests.fakes.oidc import AUDIENCE, FakeIssuer

DATA = Path(__file__).resolve().parents[1] / "data"
WEBHOOK_SECRET = "webhook-secret-for-tests"
API_TOKEN = "api-token-for-tests"
REPO = "Codertocat/Hello-World"


@dataclass
class FakeRepoGitHub:
    """What the handlers ask GitHub for one repository, answered from memory and recorded."""

    permissions: dict[str, str] = field(default_factory=dict)
    branch: str = "main"
    reactions: list[tuple[int, str]] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    reply_keys: list[str | None] = field(default_factory=list)
    jobs: dict[int, list[dict]] = field(default_factory=dict)
    job_logs: dict[int, str] = field(default_factory=dict)

    def default_branch(self) -> str:
        """Return the repository's default branch."""
        return self.branch

    def permission(self, login: str) -> str:
        """Return the user's permission (default: none)."""
        return self.permissions.get(login, "none")

    def add_reaction(self, comment_id: int, content: str = "eyes") -> None:
        """Record a reaction."""
        self.reactions.append((comment_id, content))

    def reply(self, issue_number: int, body: str, key: str | None = None) -> int:
        """Record a comment (once per `key`, like the real one); return its index."""
        if key is not None and key in self.reply_keys:
            return self.reply_keys.index(key)
        self.reply_keys.append(key)
        self.replies.append((issue_number, body))
        return len(self.replies) - 1

    def run_jobs(self, run_id: int) -> list[dict]:
        """Return the jobs of a run."""
        return self.jobs.get(run_id, [])

    def job_log(self, job_id: int) -> str | None:
        """Return a job's log (None: GitHub has none)."""
        return self.job_logs.get(job_id)


@dataclass
class FakeRuntime:
    """One bus and one GitHub for every repository; records who asked for what."""

    bus_: MessageBus
    github_: FakeRepoGitHub
    asked: list[tuple[str, int | None]] = field(default_factory=list)

    def bus(self, repository: str, installation_id: int | None = None) -> MessageBus:
        """Return the project's bus."""
        self.asked.append((repository, installation_id))
        return self.bus_

    def github(self, repository: str, installation_id: int | None = None) -> FakeRepoGitHub:
        """Return the recording GitHub."""
        return self.github_


@dataclass
class ServiceStage:
    """A Project, a fake runtime and the Flask app built over them."""

    project: Project
    runtime: FakeRuntime
    app: Flask
    issuer: FakeIssuer

    @classmethod
    def create(cls, tmp_path: Path, components: dict[str, int] | None = None, *,
               queue: Any = "inline", database_url: str | None = None,
               **settings: Any) -> ServiceStage:
        """Build the stage; `settings` override Config fields."""
        project = Project.create(tmp_path, components or {"isbn": 20, "money": 10},
                                 database_url=database_url)
        runtime = FakeRuntime(project.bus, FakeRepoGitHub())
        values = {"webhook_secret": WEBHOOK_SECRET, "api_token": API_TOKEN,
                  "public_url": AUDIENCE, "workspace_dir": tmp_path / "workspace", **settings}
        config = Config.from_env({}, **values)
        issuer = FakeIssuer()
        from service.auth.oidc import OidcVerifier

        verifier = OidcVerifier(issuer=issuer.issuer, audience=AUDIENCE,
                                jwks_fetcher=issuer.jwks)
        app = create_app(config, service(config, store=project.store, runtime=runtime,
                                         queue=queue, oidc=verifier))
        return cls(project, runtime, app, issuer)

    @property
    def github(self) -> FakeRepoGitHub:
        """Return the recording GitHub."""
        return self.runtime.github_

    @property
    def store(self):
        """Return the store."""
        return self.project.store

    def webhook(self, event: str, payload: dict, *, delivery: str | None = None,
                secret: str = WEBHOOK_SECRET) -> dict[str, Any]:
        """Return test-client keyword arguments for a signed delivery."""
        body = json.dumps(payload).encode()
        return {"data": body, "headers": {
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(secret.encode(), body),
            "Content-Type": "application/json"}}


def load(name: str) -> dict[str, Any]:
    """Return a fresh copy of a recorded webhook payload from tests/data."""
    return json.loads((DATA / f"{name}.json").read_text())


def comment_payload(body: str, user: str = "Codertocat", **user_fields: Any) -> dict[str, Any]:
    """Return the recorded issue_comment.created payload with another body and author."""
    payload = load("issue_comment.created.3")
    payload["comment"]["body"] = body
    payload["comment"]["user"].update(login=user, **user_fields)
    return payload


def bearer(token: str = API_TOKEN) -> dict[str, str]:
    """Return an Authorization header."""
    return {"Authorization": f"Bearer {token}"}
