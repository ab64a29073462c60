"""Events: what happened on GitHub, as typed values (parsed from webhooks in service/web)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommentCreated:
    """Someone wrote a new comment on an issue or pull request."""

    delivery: str
    repository: str
    installation_id: int | None
    issue_number: int
    comment_id: int
    body: str
    author: str
    author_type: str
    author_association: str
    is_pull_request: bool


@dataclass(frozen=True)
class IssueLabeled:
    """Someone added a label to an issue."""

    delivery: str
    repository: str
    installation_id: int | None
    issue_number: int
    label: str
    sender: str
    sender_type: str


@dataclass(frozen=True)
class WorkflowJobCompleted:
    """An Actions job (one matrix entry) finished."""

    delivery: str
    repository: str
    installation_id: int | None
    run_id: int
    job_id: int
    job_name: str
    conclusion: str | None
    html_url: str | None
    run_attempt: int
    workflow_name: str | None = None
    head_branch: str | None = None


@dataclass(frozen=True)
class WorkflowRunCompleted:
    """An Actions workflow run finished; `display_title` is the run name (`ccs <session>`)."""

    delivery: str
    repository: str
    installation_id: int | None
    run_id: int
    conclusion: str | None
    html_url: str | None
    name: str | None
    display_title: str | None
    run_attempt: int = 1
    event: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class InstallationChanged:
    """The GitHub App was installed, removed, suspended, or its repositories changed."""

    delivery: str
    installation_id: int
    account: str | None
    action: str
    repositories: tuple[str, ...] = ()
    repositories_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ignored:
    """A delivery ccs does nothing with, and why (answered 2xx all the same)."""

    delivery: str
    event: str
    reason: str


Event = (
    CommentCreated
    | IssueLabeled
    | WorkflowJobCompleted
    | WorkflowRunCompleted
    | InstallationChanged
    | Ignored
)
