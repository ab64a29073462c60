"""Git over HTTP for the test GitHub: `git http-backend` behind GitHub's token rules.

A clone URL `<fake>/<owner>/<repo>.git` serves the repository's bare git directory. Reads
need a token for a private repository; a push needs one that may write its contents, so a
job token minted for `contents: read` gets 403, as on github.com.
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Response, request

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub
    from tests.fakes.github_state import IssuedToken, Repository

GIT_PREFIX = "/_git/"


@dataclass(frozen=True)
class RefusedPush:
    """A push the fake refused: who tried, where, and why."""

    repo: str
    login: str | None
    status: int


def _token(gh: FakeGitHub) -> IssuedToken | None:
    """Return the token of a basic or bearer Authorization header, if the fake issued it."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, credential = base64.b64decode(credential).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
    elif scheme.lower() not in ("bearer", "token"):
        return None
    return gh.token_info(credential) if credential else None


def _challenge(status: int, message: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="GitHub"'} if status == 401 else {}
    return Response(message + "\n", status=status, headers=headers, mimetype="text/plain")


def serve_git(gh: FakeGitHub, owner: str, name: str, rest: str) -> Response:
    """Answer one smart-HTTP request for `owner/name` (`rest` is the path after .git/)."""
    repo = gh._repos.get(f"{owner}/{name}")
    if repo is None:
        return _challenge(404, "Repository not found.")
    token = _token(gh)
    pushing = (request.args.get("service") == "git-receive-pack"
               or rest == "git-receive-pack")
    if token is None and (pushing or repo.private):
        return _challenge(401, "Authentication required")
    if pushing and not gh.may_write(token, repo):  # type: ignore[arg-type]
        gh.refused_pushes.append(RefusedPush(repo.full_name, token.login, 403))
        return _challenge(403, f"Permission to {repo.full_name}.git denied to "
                               f"{token.login}.")  # type: ignore[union-attr]
    return _backend(gh, repo, rest, token)


def _backend(gh: FakeGitHub, repo: Repository, rest: str,
             token: IssuedToken | None) -> Response:
    """Run `git http-backend` as CGI for the request and relay its answer."""
    env = {key: value for key, value in os.environ.items() if key.startswith(("PATH", "HOME"))}
    env.update({
        "GIT_PROJECT_ROOT": str(repo.git.path.parent), "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.git.path.name}/{rest}", "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string.decode(),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        # http-backend refuses receive-pack to anonymous callers; the token checked above.
        "REMOTE_USER": token.login if token else "",
        "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
    })
    done = subprocess.run(["git", "http-backend"], input=request.get_data(), env=env,
                          capture_output=True, check=False)
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, body = done.stdout.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return Response(body, status=status, headers=headers)


def register_git_http(gh: FakeGitHub) -> None:
    """Serve every repository's git data under `<fake>/_git/<owner>/<repo>.git/`."""
    gh.http.app.add_url_rule(
        f"{GIT_PREFIX}<owner>/<name>.git/<path:rest>", endpoint="git-http",
        view_func=lambda owner, name, rest: serve_git(gh, owner, name, rest),
        methods=["GET", "POST"])


def git_as(cwd: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    """Run git in `cwd` sending `token` the way jobs and ccs do (a basic auth header in
    git's environment, never in argv); for tests that try a token against the fake."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraheader",
                   GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)
