"""What the test GitHub knows: repositories, people, issues, runs, pull requests, apps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.github_git import BareRepo

PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

_ids = itertools.count(1_000_001)


def next_id() -> int:
    """Return a fresh id, unique across every kind of object in this process."""
    return next(_ids)


def now_iso() -> str:
    """Return the current UTC time the way GitHub writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    """A GitHub account (user, bot or organization)."""

    login: str
    id: int = field(default_factory=next_id)
    type: str = "User"


@dataclass
class Reaction:
    """One reaction to a comment."""

    content: str
    user: User
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Comment:
    """An issue (or pull request) comment."""

    repo: str
    issue: int
    body: str
    user: User
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Issue:
    """An issue; pull requests share the numbering."""

    number: int
    title: str
    body: str
    user: User
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class PullRequest:
    """A pull request from a branch of the same repository."""

    number: int
    title: str
    body: str
    head: str
    base: str
    user: User
    draft: bool = False
    state: str = "open"
    id: int = field(default_factory=next_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Workflow:
    """A workflow file that can be dispatched."""

    file_name: str
    name: str
    id: int = field(default_factory=next_id)


@dataclass
class Job:
    """One matrix job of a workflow run."""

    run_id: int
    name: str
    entry: dict[str, Any]
    id: int = field(default_factory=next_id)
    status: str = "queued"
    conclusion: str | None = None
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    completed_at: str | None = None
    log: str = ""
    summary: str = ""  # the job summary its steps wrote (GITHUB_STEP_SUMMARY)


@dataclass
class WorkflowRun:
    """A dispatched workflow run with its jobs."""

    repo: str
    workflow: Workflow
    ref: str
    head_sha: str
    inputs: dict[str, str]
    display_title: str
    run_number: int
    actor: User
    id: int = field(default_factory=next_id)
    status: str = "queued"
    conclusion: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    jobs: list[Job] = field(default_factory=list)
    cancel_requested: bool = False


@dataclass
class Repository:
    """A repository and everything hanging off it."""

    full_name: str
    default_branch: str
    git: BareRepo
    owner: User
    id: int = field(default_factory=next_id)
    private: bool = False
    permissions: dict[str, str] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    secrets: dict[str, str] = field(default_factory=dict)  # Actions repository secrets

    @property
    def name(self) -> str:
        """Return the repository name without its owner."""
        return self.full_name.split("/", 1)[1]

    def next_number(self) -> int:
        """Return the next issue/pull request number."""
        return max([0, *self.issues, *self.pulls]) + 1


@dataclass
class App:
    """A registered GitHub App (only its id and public key matter here)."""

    id: int
    public_key_pem: str
    slug: str = "ccs"


@dataclass
class Installation:
    """An installation of an app on an account, for some repositories."""

    app_id: int
    account: User
    repositories: list[str]
    id: int = field(default_factory=next_id)


@dataclass
class IssuedToken:
    """A token the fake accepts; installation tokens expire."""

    value: str
    installation_id: int | None = None
    expires_at: float | None = None
    repositories: list[str] | None = None
    login: str = "ccs-bot"
    # A job's GITHUB_TOKEN carries its job's `permissions:` (None: the user's own rights).
    permissions: dict[str, str] | None = None
