"""REST routes of the test GitHub: repositories, apps, issues, comments, git data, pulls."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Response, g, request

from tests.fakes.github_http import ApiError, HttpLayer, json_response
from tests.fakes.github_schema import example
from tests.fakes.github_state import (
    REACTIONS,
    Comment,
    IssuedToken,
    PullRequest,
    Reaction,
    Repository,
)

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

REPO = "/repos/{owner}/{repo}"


def body_field(name: str, kind: type | tuple[type, ...] = str, required: bool = True) -> Any:
    """Return a field of the JSON body, or raise 422 like GitHub."""
    body = g.json_body if isinstance(g.json_body, dict) else {}
    if name not in body:
        if required:
            raise ApiError(422, f"Invalid request.\n\n\"{name}\" wasn't supplied.")
        return None
    if not isinstance(body[name], kind):
        raise ApiError(422, f"Invalid request.\n\nFor '{name}', {body[name]!r} is not valid.")
    return body[name]


def paginate(items: list[Any], default: int = 30) -> tuple[list[Any], dict[str, str]]:
    """Slice `items` by per_page/page and build GitHub's Link header."""
    per_page = max(1, min(int(request.args.get("per_page", default)), 100))
    page = max(1, int(request.args.get("page", 1)))
    last = max(1, -(-len(items) // per_page))
    query = {key: value for key, value in request.args.items() if key not in ("page",)}
    query["per_page"] = str(per_page)

    def link(number: int, rel: str) -> str:
        params = "&".join(f"{key}={value}" for key, value in {**query, "page": number}.items())
        return f'<{request.host_url.rstrip("/")}{request.path}?{params}>; rel="{rel}"'

    links = []
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    headers = {"Link": ", ".join(links)} if links else {}
    return items[(page - 1) * per_page: page * per_page], headers


def register_core_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register repository, app, permission and rate-limit routes."""
    route = http.route

    @route("GET", REPO)
    def get_repository(owner: str, repo: str) -> Response:
        found = gh._visible_repo(owner, repo)
        return json_response(gh.render.repository(found, gh.clone_url(found.full_name)))

    @route("GET", REPO + "/installation")
    def get_repo_installation(owner: str, repo: str) -> Response:
        for installation in gh._installations.values():
            if (installation.app_id == g.app_id
                    and f"{owner}/{repo}" in installation.repositories):
                return json_response(gh.render.installation(
                    installation, gh._apps[installation.app_id].slug))
        raise ApiError(404, "Not Found")

    @route("POST", "/app/installations/{installation_id}/access_tokens")
    def create_installation_token(installation_id: str) -> Response:
        installation = gh._installations.get(int(installation_id))
        if installation is None or installation.app_id != g.app_id:
            raise ApiError(404, "Not Found")
        wanted = body_field("repositories", list, required=False) or installation.repositories
        names = [name if "/" in name else f"{installation.account.login}/{name}"
                 for name in wanted]
        if any(name not in installation.repositories for name in names):
            raise ApiError(422, "There is at least one repository that does not exist or is "
                                "not accessible to the parent installation.")
        value = "ghs_" + secrets.token_hex(18)
        expires = time.time() + gh.token_ttl
        with gh.lock:
            gh._tokens[value] = IssuedToken(value, installation.id, expires, names)
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        repos = [gh._repos[name] for name in names]
        return json_response(gh.render.token(value, stamp, repos), 201)

    @route("GET", REPO + "/collaborators/{username}/permission")
    def get_permission(owner: str, repo: str, username: str) -> Response:
        found = gh._visible_repo(owner, repo)
        user = gh._users.get(username)
        if user is None:
            raise ApiError(404, f"{username} is not a user")
        default = "none" if found.private else "read"
        permission = found.permissions.get(username, default)
        return json_response(gh.render.permission(user, permission))

    @route("GET", "/rate_limit")
    def get_rate_limit() -> Response:
        return json_response(example("rate-limit-overview"))


def register_issue_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register issue, comment and reaction routes."""
    route = http.route

    @route("GET", REPO + "/issues/{issue_number}")
    def get_issue(owner: str, repo: str, issue_number: str) -> Response:
        found = gh._visible_repo(owner, repo)
        issue = found.issues.get(int(issue_number))
        if issue is None:
            raise ApiError(404, "Not Found")
        return json_response(gh.render.issue(found, issue))

    @route("GET", REPO + "/issues/{issue_number}/comments")
    def list_comments(owner: str, repo: str, issue_number: str) -> Response:
        found = gh._visible_repo(owner, repo)
        if int(issue_number) not in found.issues and int(issue_number) not in found.pulls:
            raise ApiError(404, "Not Found")
        page, headers = paginate(gh.comments(found.full_name, int(issue_number)))
        return json_response([gh.render.comment(comment) for comment in page], 200, headers)

    @route("POST", REPO + "/issues/{issue_number}/comments")
    def create_comment(owner: str, repo: str, issue_number: str) -> Response:
        found = gh._visible_repo(owner, repo)
        number = int(issue_number)
        if number not in found.issues and number not in found.pulls:
            raise ApiError(404, "Not Found")
        text = body_field("body")
        if len(text) > 65536:
            raise ApiError(422, "Validation Failed", [
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": "body is too long (maximum is 65536 characters)"}])
        comment = gh.add_comment(found.full_name, number, text, user=g.user.login)
        url = f"{gh.url}/repos/{found.full_name}/issues/comments/{comment.id}"
        return json_response(gh.render.comment(comment), 201, {"Location": url})

    def find_comment(owner: str, repo: str, comment_id: str) -> Comment:
        found = gh._visible_repo(owner, repo)
        comment = gh._comments.get(int(comment_id))
        if comment is None or comment.repo != found.full_name:
            raise ApiError(404, "Not Found")
        return comment

    @route("GET", REPO + "/issues/comments/{comment_id}")
    def get_comment(owner: str, repo: str, comment_id: str) -> Response:
        return json_response(gh.render.comment(find_comment(owner, repo, comment_id)))

    @route("PATCH", REPO + "/issues/comments/{comment_id}")
    def update_comment(owner: str, repo: str, comment_id: str) -> Response:
        comment = find_comment(owner, repo, comment_id)
        text = body_field("body")
        with gh.lock:
            comment.body = text
            comment.updated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json_response(gh.render.comment(comment))

    @route("POST", REPO + "/issues/comments/{comment_id}/reactions")
    def create_reaction(owner: str, repo: str, comment_id: str) -> Response:
        comment = find_comment(owner, repo, comment_id)
        content = body_field("content")
        if content not in REACTIONS:
            raise ApiError(422, "Validation Failed", [
                {"resource": "Reaction", "code": "invalid", "field": "content"}])
        with gh.lock:
            for reaction in comment.reactions:
                if reaction.content == content and reaction.user.login == g.user.login:
                    return json_response(gh.render.reaction(reaction), 200)
            reaction = Reaction(content, g.user)
            comment.reactions.append(reaction)
        return json_response(gh.render.reaction(reaction), 201)


def resolve_commit(repo: Repository, ref: str) -> str | None:
    """Return the commit a branch, tag or sha names, or None."""
    for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
        sha = repo.git.ref_sha(candidate)
        if sha:
            return sha
    if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower()):
        return repo.git.ref_sha(ref)
    return None


def register_git_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register refs, branches, contents and merges."""
    route = http.route

    @route("GET", REPO + "/git/ref/{ref}")
    def get_ref(owner: str, repo: str, ref: str) -> Response:
        found = gh._visible_repo(owner, repo)
        sha = found.git.ref_sha(f"refs/{ref}")
        if sha is None:
            raise ApiError(404, "Not Found")
        return json_response(gh.render.git_ref(found, f"refs/{ref}", sha))

    @route("POST", REPO + "/git/refs")
    def create_ref(owner: str, repo: str) -> Response:
        found = gh._writable_repo(owner, repo)
        ref, sha = body_field("ref"), body_field("sha")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name is not valid")
        if not found.git.has_commit(sha):
            raise ApiError(422, "Object does not exist")
        with gh.lock:
            if found.git.ref_sha(ref) is not None:
                raise ApiError(422, "Reference already exists")
            found.git.set_ref(ref, sha, "0" * 40)
        location = f"{gh.url}/repos/{found.full_name}/git/{ref}"
        return json_response(gh.render.git_ref(found, ref, sha), 201, {"Location": location})

    @route("PATCH", REPO + "/git/refs/{ref}")
    def update_ref(owner: str, repo: str, ref: str) -> Response:
        found = gh._writable_repo(owner, repo)
        sha = body_field("sha")
        force = body_field("force", bool, required=False) or False
        full = f"refs/{ref}"
        with gh.lock:
            current = found.git.ref_sha(full)
            if current is None:
                raise ApiError(422, "Reference does not exist")
            if not found.git.has_commit(sha):
                raise ApiError(422, "Object does not exist")
            if not force and not found.git.is_ancestor(current, sha):
                raise ApiError(422, "Update is not a fast forward")
            found.git.set_ref(full, sha, current)
        return json_response(gh.render.git_ref(found, full, sha))

    @route("DELETE", REPO + "/git/refs/{ref}")
    def delete_ref(owner: str, repo: str, ref: str) -> Response:
        found = gh._writable_repo(owner, repo)
        with gh.lock:
            if found.git.ref_sha(f"refs/{ref}") is None:
                raise ApiError(422, "Reference does not exist")
            if ref == f"heads/{found.default_branch}":
                raise ApiError(422, "Cannot delete the default branch")
            found.git.delete_ref(f"refs/{ref}")
        return Response(status=204)

    @route("GET", REPO + "/branches/{branch}")
    def get_branch(owner: str, repo: str, branch: str) -> Response:
        found = gh._visible_repo(owner, repo)
        sha = found.git.ref_sha(f"refs/heads/{branch}")
        if sha is None:
            raise ApiError(404, "Branch not found")
        return json_response(gh.render.branch(found, branch, found.git.commit_info(sha)))

    @route("GET", REPO + "/contents/{path}")
    def get_contents(owner: str, repo: str, path: str) -> Response:
        found = gh._visible_repo(owner, repo)
        ref = request.args.get("ref") or found.default_branch
        sha = resolve_commit(found, ref)
        data = found.git.read_file(sha, path) if sha else None
        if data is None:
            raise ApiError(404, "Not Found")
        blob = found.git.blob_sha(sha, path)
        return json_response(gh.render.content(found, path, ref, data, blob))

    @route("POST", REPO + "/merges")
    def merge(owner: str, repo: str) -> Response:
        found = gh._writable_repo(owner, repo)
        base, head = body_field("base"), body_field("head")
        message = body_field("commit_message", required=False) or f"Merge {head} into {base}"
        with gh.lock:
            base_sha, head_sha = resolve_commit(found, base), resolve_commit(found, head)
            if base_sha is None or head_sha is None:
                raise ApiError(404, "Base does not exist" if base_sha is None
                               else "Head does not exist")
            if found.git.is_ancestor(head_sha, base_sha):
                return Response(status=204)
            merged = found.git.merge(base_sha, head_sha, message)
            if merged is None:
                raise ApiError(409, "Merge conflict")
            found.git.set_ref(f"refs/heads/{base}", merged, base_sha)
        return json_response(gh.render.commit(found, found.git.commit_info(merged)), 201)


def register_pull_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register pull request listing and creation."""
    route = http.route

    def render(found: Repository, pull: PullRequest, simple: bool) -> dict[str, Any]:
        shas = {branch: found.git.ref_sha(f"refs/heads/{branch}")
                for branch in (pull.head, pull.base)}
        return gh.render.pull(found, pull, shas, simple)

    @route("GET", REPO + "/pulls")
    def list_pulls(owner: str, repo: str) -> Response:
        found = gh._visible_repo(owner, repo)
        state = request.args.get("state", "open")
        head = request.args.get("head")
        base = request.args.get("base")
        pulls = [
            pull for pull in sorted(found.pulls.values(), key=lambda p: -p.number)
            if state in ("all", pull.state)
            and (head is None or head in (f"{owner}:{pull.head}", pull.head))
            and (base is None or base == pull.base)
        ]
        page, headers = paginate(pulls)
        return json_response([render(found, pull, True) for pull in page], 200, headers)

    @route("POST", REPO + "/pulls")
    def create_pull(owner: str, repo: str) -> Response:
        found = gh._writable_repo(owner, repo, "pull_requests")
        head = body_field("head").split(":", 1)[-1]
        base = body_field("base")
        title = body_field("title")
        with gh.lock:
            head_sha = found.git.ref_sha(f"refs/heads/{head}")
            base_sha = found.git.ref_sha(f"refs/heads/{base}")
            problems = [{"resource": "PullRequest", "field": name, "code": "invalid"}
                        for name, sha in (("head", head_sha), ("base", base_sha)) if not sha]
            if problems:
                raise ApiError(422, "Validation Failed", problems)
            for pull in found.pulls.values():
                if pull.state == "open" and pull.head == head and pull.base == base:
                    raise ApiError(422, "Validation Failed", [{
                        "resource": "PullRequest", "code": "custom",
                        "message": f"A pull request already exists for {owner}:{head}."}])
            if found.git.is_ancestor(head_sha, base_sha):
                raise ApiError(422, "Validation Failed", [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"No commits between {base} and {head}"}])
            pull = PullRequest(
                found.next_number(), title, body_field("body", required=False) or "",
                head, base, g.user, draft=bool(body_field("draft", bool, required=False)))
            found.pulls[pull.number] = pull
        location = f"{gh.url}/repos/{found.full_name}/pulls/{pull.number}"
        return json_response(render(found, pull, False), 201, {"Location": location})
