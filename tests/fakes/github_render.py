"""Render the fake's state as GitHub REST JSON, starting from the OpenAPI examples."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.fakes.github_git import CommitInfo
from tests.fakes.github_schema import example
from tests.fakes.github_state import (
    Comment,
    Installation,
    Issue,
    Job,
    PullRequest,
    Reaction,
    Repository,
    User,
    Workflow,
    WorkflowRun,
)

HTML = "https://github.com"
_EXAMPLE_REPOS = ("octocat/Hello-World", "octo-org/octo-repo")


class Renderer:
    """Turn state objects into response bodies whose URLs point at the fake."""

    def __init__(self, api: str) -> None:
        """Render URLs under the API base `api` (e.g. http://127.0.0.1:5000)."""
        self.api = api

    def _rebrand(self, value: Any, full_name: str | None = None) -> Any:
        """Point an example's URLs at the fake (and at `full_name`)."""
        text = json.dumps(value).replace("https://api.github.com", self.api)
        if full_name:
            for original in _EXAMPLE_REPOS:
                text = text.replace(original, full_name)
        return json.loads(text)

    def user(self, user: User) -> dict[str, Any]:
        """Render a simple-user."""
        template = self._rebrand(example("issue-comment")["user"])
        text = json.dumps(template).replace("octocat", user.login)
        rendered = json.loads(text)
        rendered.update(id=user.id, node_id=f"U_{user.id}", type=user.type)
        return rendered

    def repository(self, repo: Repository, clone_url: str) -> dict[str, Any]:
        """Render a full-repository; `clone_url` is where git can fetch it."""
        body = self._rebrand(example("full-repository-default-response"), repo.full_name)
        for key in ("parent", "source", "template_repository", "organization"):
            body.pop(key, None)
        body.update(
            id=repo.id, node_id=f"R_{repo.id}", name=repo.name, full_name=repo.full_name,
            owner=self.user(repo.owner), private=repo.private,
            visibility="private" if repo.private else "public",
            default_branch=repo.default_branch, clone_url=clone_url,
            git_url=clone_url, ssh_url=clone_url, mirror_url=None, language=None,
            created_at=repo.created_at, updated_at=repo.created_at, pushed_at=repo.created_at,
            open_issues_count=len(repo.issues), open_issues=len(repo.issues),
            fork=False, archived=False, disabled=False,
        )
        return body

    def minimal_repository(self, repo: Repository) -> dict[str, Any]:
        """Render a minimal-repository (as embedded in runs and tokens)."""
        body = self._rebrand(example("workflow-run")["repository"], repo.full_name)
        body.update(
            id=repo.id, node_id=f"R_{repo.id}", name=repo.name, full_name=repo.full_name,
            owner=self.user(repo.owner), private=repo.private,
        )
        return body

    def installation(self, installation: Installation, app_slug: str) -> dict[str, Any]:
        """Render an installation."""
        body = self._rebrand(example("installation"))
        body.update(
            id=installation.id, app_id=installation.app_id, app_slug=app_slug,
            account=self.user(installation.account), target_id=installation.account.id,
            target_type=installation.account.type, repository_selection="selected",
            access_tokens_url=f"{self.api}/app/installations/{installation.id}/access_tokens",
            permissions={"contents": "write", "issues": "write", "pull_requests": "write",
                         "actions": "write", "metadata": "read"},
        )
        return body

    def token(self, value: str, expires_at: str, repos: list[Repository]) -> dict[str, Any]:
        """Render an installation-token."""
        body = self._rebrand(example("installation-token"))
        body.update(
            token=value, expires_at=expires_at, repository_selection="selected",
            permissions={"contents": "write", "issues": "write", "pull_requests": "write",
                         "actions": "write", "metadata": "read"},
        )
        template = body["repositories"][0]
        body["repositories"] = [
            {**template, **self.minimal_repository(repo)} for repo in repos
        ]
        return body

    def permission(self, user: User, permission: str) -> dict[str, Any]:
        """Render a repository-collaborator-permission."""
        role = {"none": "none", "read": "read", "triage": "triage", "write": "write",
                "maintain": "maintain", "admin": "admin"}[permission]
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        user_json = self.user(user)
        user_json["permissions"] = {
            "admin": permission == "admin", "maintain": permission in ("admin", "maintain"),
            "push": permission in ("admin", "maintain", "write"),
            "triage": permission in ("admin", "maintain", "write", "triage"),
            "pull": permission != "none",
        }
        user_json["role_name"] = role
        return {"permission": legacy, "role_name": role, "user": user_json}

    def comment(self, comment: Comment) -> dict[str, Any]:
        """Render an issue-comment."""
        body = self._rebrand(example("issue-comment"), comment.repo)
        url = f"{self.api}/repos/{comment.repo}/issues/comments/{comment.id}"
        body.update(
            id=comment.id, node_id=f"IC_{comment.id}", url=url, body=comment.body,
            html_url=f"{HTML}/{comment.repo}/issues/{comment.issue}#issuecomment-{comment.id}",
            issue_url=f"{self.api}/repos/{comment.repo}/issues/{comment.issue}",
            user=self.user(comment.user), created_at=comment.created_at,
            updated_at=comment.updated_at, author_association="COLLABORATOR",
        )
        body.pop("performed_via_github_app", None)
        counts = {content: 0 for content in ("+1", "-1", "laugh", "confused", "heart",
                                             "hooray", "rocket", "eyes")}
        for reaction in comment.reactions:
            counts[reaction.content] += 1
        body["reactions"] = {"url": f"{url}/reactions",
                             "total_count": len(comment.reactions), **counts}
        return body

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        """Render a reaction."""
        body = self._rebrand(example("reaction"))
        body.update(id=reaction.id, node_id=f"REA_{reaction.id}", content=reaction.content,
                    user=self.user(reaction.user), created_at=reaction.created_at)
        return body

    def issue(self, repo: Repository, issue: Issue) -> dict[str, Any]:
        """Render an issue."""
        body = self._rebrand(example("issue"), repo.full_name)
        text = json.dumps(body).replace("/issues/1347", f"/issues/{issue.number}")
        body = json.loads(text)
        for key in ("closed_by", "pull_request", "pinned_comment"):
            body.pop(key, None)
        body.update(
            id=issue.id, node_id=f"I_{issue.id}", number=issue.number, title=issue.title,
            body=issue.body, user=self.user(issue.user), state=issue.state,
            labels=[{"id": abs(hash(name)) % 10**9, "name": name, "color": "ededed",
                     "default": False, "description": None,
                     "url": f"{self.api}/repos/{repo.full_name}/labels/{name}",
                     "node_id": f"LA_{name}"} for name in issue.labels],
            assignee=None, assignees=[], milestone=None, created_at=issue.created_at,
            comments=0,
            updated_at=issue.created_at, closed_at=None, locked=False,
            author_association="COLLABORATOR",
        )
        return body

    def git_ref(self, repo: Repository, ref: str, sha: str) -> dict[str, Any]:
        """Render a git-ref."""
        base = f"{self.api}/repos/{repo.full_name}/git"
        return {"ref": ref, "node_id": f"REF_{repo.id}_{ref}", "url": f"{base}/{ref}",
                "object": {"type": "commit", "sha": sha, "url": f"{base}/commits/{sha}"}}

    def branch(self, repo: Repository, name: str, info: CommitInfo) -> dict[str, Any]:
        """Render a branch-with-protection."""
        body = self._rebrand(example("branch-get"), repo.full_name)
        commit = body["commit"]
        base = f"{self.api}/repos/{repo.full_name}"
        commit.update(sha=info.sha, node_id=f"C_{info.sha}", url=f"{base}/commits/{info.sha}",
                      html_url=f"{HTML}/{repo.full_name}/commit/{info.sha}",
                      comments_url=f"{base}/commits/{info.sha}/comments",
                      parents=[{"sha": parent, "url": f"{base}/commits/{parent}"}
                               for parent in info.parents])
        person = {"name": info.author_name, "email": info.author_email, "date": info.date}
        commit["commit"].update(
            author=person, committer=person, message=info.message,
            url=f"{base}/git/commits/{info.sha}",
            tree={"sha": info.tree, "url": f"{base}/git/trees/{info.tree}"},
        )
        body.update(name=name, protected=False)
        body["_links"] = {"self": f"{base}/branches/{name}", "html": f"{HTML}/{repo.full_name}"}
        return body

    def content(self, repo: Repository, path: str, ref: str, data: bytes,
                sha: str) -> dict[str, Any]:
        """Render a content-file with base64 content."""
        body = self._rebrand(example("content-file-response-if-content-is-a-file"),
                             repo.full_name)
        url = f"{self.api}/repos/{repo.full_name}/contents/{path}?ref={ref}"
        git_url = f"{self.api}/repos/{repo.full_name}/git/blobs/{sha}"
        html_url = f"{HTML}/{repo.full_name}/blob/{ref}/{path}"
        body.update(
            type="file", encoding="base64", size=len(data), name=path.rsplit("/", 1)[-1],
            path=path, content=base64.encodebytes(data).decode(), sha=sha, url=url,
            git_url=git_url, html_url=html_url, download_url=None,
            _links={"self": url, "git": git_url, "html": html_url},
        )
        return body

    def workflow(self, repo: Repository, workflow: Workflow) -> dict[str, Any]:
        """Render a workflow."""
        body = self._rebrand(example("workflow"), repo.full_name)
        body.update(
            id=workflow.id, node_id=f"W_{workflow.id}", name=workflow.name,
            path=f".github/workflows/{workflow.file_name}",
            url=f"{self.api}/repos/{repo.full_name}/actions/workflows/{workflow.id}",
            html_url=f"{HTML}/{repo.full_name}/blob/{repo.default_branch}/"
                     f".github/workflows/{workflow.file_name}",
            badge_url=f"{HTML}/{repo.full_name}/workflows/{workflow.name}/badge.svg",
        )
        return body

    def run(self, repo: Repository, run: WorkflowRun) -> dict[str, Any]:
        """Render a workflow-run."""
        body = self._rebrand(example("workflow-run"), repo.full_name)
        base = f"{self.api}/repos/{repo.full_name}/actions/runs/{run.id}"
        info_message = f"Dispatch {run.display_title}"
        body.update(
            id=run.id, node_id=f"WFR_{run.id}", name=run.workflow.name,
            display_title=run.display_title, path=f".github/workflows/{run.workflow.file_name}",
            head_branch=run.ref, head_sha=run.head_sha, run_number=run.run_number,
            run_attempt=1, event="workflow_dispatch", status=run.status,
            conclusion=run.conclusion, workflow_id=run.workflow.id, check_suite_id=run.id,
            check_suite_node_id=f"CS_{run.id}", url=base,
            html_url=f"{HTML}/{repo.full_name}/actions/runs/{run.id}",
            jobs_url=f"{base}/jobs", logs_url=f"{base}/logs", artifacts_url=f"{base}/artifacts",
            cancel_url=f"{base}/cancel", rerun_url=f"{base}/rerun",
            check_suite_url=f"{self.api}/repos/{repo.full_name}/check-suites/{run.id}",
            workflow_url=f"{self.api}/repos/{repo.full_name}/actions/workflows/"
                         f"{run.workflow.id}",
            created_at=run.created_at, updated_at=run.updated_at,
            run_started_at=run.created_at, pull_requests=[], previous_attempt_url=None,
            actor=self.user(run.actor), triggering_actor=self.user(run.actor),
            repository=self.minimal_repository(repo),
            head_repository=self.minimal_repository(repo), referenced_workflows=[],
        )
        body["head_commit"].update(id=run.head_sha, tree_id=run.head_sha,
                                   message=info_message, timestamp=run.created_at)
        return body

    def job(self, repo: Repository, run: WorkflowRun, job: Job) -> dict[str, Any]:
        """Render a job."""
        body = self._rebrand(example("job-paginated")["jobs"][0], repo.full_name)
        step_status = "completed" if job.status == "completed" else job.status
        body.update(
            id=job.id, run_id=run.id, node_id=f"J_{job.id}", head_sha=run.head_sha,
            head_branch=run.ref, run_attempt=1, name=job.name, status=job.status,
            conclusion=job.conclusion, created_at=job.created_at,
            started_at=job.started_at or job.created_at, completed_at=job.completed_at,
            workflow_name=run.workflow.name,
            url=f"{self.api}/repos/{repo.full_name}/actions/jobs/{job.id}",
            run_url=f"{self.api}/repos/{repo.full_name}/actions/runs/{run.id}",
            html_url=f"{HTML}/{repo.full_name}/actions/runs/{run.id}/job/{job.id}",
            check_run_url=f"{self.api}/repos/{repo.full_name}/check-runs/{job.id}",
            steps=[{"name": "Run ccs", "status": step_status, "conclusion": job.conclusion,
                    "number": 1, "started_at": job.started_at,
                    "completed_at": job.completed_at}],
            labels=["ubuntu-latest"], runner_id=1, runner_name="GitHub Actions 1",
            runner_group_id=1, runner_group_name="GitHub Actions",
        )
        return body

    def pull(self, repo: Repository, pull: PullRequest, shas: dict[str, str | None],
             simple: bool) -> dict[str, Any]:
        """Render a pull-request (or pull-request-simple when `simple`)."""
        body = self._rebrand(example("pull-request"), repo.full_name)
        body = json.loads(json.dumps(body).replace("/1347", f"/{pull.number}"))
        for side, branch in (("head", pull.head), ("base", pull.base)):
            body[side].update(label=f"{repo.owner.login}:{branch}", ref=branch,
                              sha=shas.get(branch) or "0" * 40, user=self.user(repo.owner))
            body[side]["repo"].update(id=repo.id, node_id=f"R_{repo.id}", name=repo.name,
                                      full_name=repo.full_name, owner=self.user(repo.owner),
                                      default_branch=repo.default_branch)
        body.update(
            id=pull.id, node_id=f"PR_{pull.id}", number=pull.number, state=pull.state,
            title=pull.title, body=pull.body, draft=pull.draft, user=self.user(pull.user),
            locked=False, created_at=pull.created_at, updated_at=pull.created_at,
            closed_at=None, merged_at=None, merge_commit_sha=None, assignee=None,
            assignees=[], requested_reviewers=[], requested_teams=[], labels=[],
            milestone=None, auto_merge=None, author_association="COLLABORATOR",
            html_url=f"{HTML}/{repo.full_name}/pull/{pull.number}",
        )
        if simple:
            keep = set(example("pull-request-simple-items")[0])
            body = {key: value for key, value in body.items() if key in keep}
        else:
            body.update(merged=False, mergeable=True, rebaseable=True,
                        mergeable_state="clean", merged_by=None, comments=0,
                        review_comments=0, commits=1, additions=0, deletions=0,
                        changed_files=0, maintainer_can_modify=False)
        return body

    def commit(self, repo: Repository, info: CommitInfo) -> dict[str, Any]:
        """Render a commit (the response of a merge)."""
        body = self._rebrand(example("commit"), repo.full_name)
        body = json.loads(json.dumps(body).replace(body["sha"], info.sha))
        person = {"name": info.author_name, "email": info.author_email, "date": info.date}
        body["commit"].update(author=person, committer=person, message=info.message)
        body["commit"]["tree"]["sha"] = info.tree
        body.update(files=[], parents=[{"sha": parent, "url": f"{self.api}/repos/"
                                        f"{repo.full_name}/commits/{parent}"}
                                       for parent in info.parents])
        return body
