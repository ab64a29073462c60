"""A new user's repository on the test GitHub: the workflow `ccs init --agent` wrote, run as
GitHub runs it, from `/ccs implement` to a pull request (issue 9, DESIGN §6a).

The runner stand-in runs the repository's own `.github/workflows/ccs.yml` step by step
(checkout, setup-python, the vendored `./.github/actions/ccs`, upload-artifact) with the
job token its `permissions:` allow; git goes over HTTP with GitHub's token rules, so a
`contents: read` token cannot push. The fake `claude` needs the repository secret.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.designs import CART_DESIGN
from tests.fakes.fake_agents import FAKE_AGENTS_DIR, LOG_NAME, read_agent_log
from tests.fakes.github import FakeGitHub
from tests.fakes.github_git_http import git_as as git_with_token
from tests.fakes.github_runner import ActionJobRunner
from tests.fakes.service_process import ServiceProcess, service_env

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
SAMPLE = {
    "README.md": "# shop\n",
    "pyproject.toml": ('[project]\nname = "shop"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
                       '\n[tool.pytest.ini_options]\npythonpath = ["src"]\n'),
    "src/shop/__init__.py": "",
    "docs/design/shop/cart.md": CART_DESIGN,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub,
                                                                      ServiceProcess, Path]]:
    """A test GitHub serving git over HTTP, runners that run the workflow file, a service."""
    root = tmp_path_factory.mktemp("user-workflow")
    home = root / "home"
    home.mkdir()
    agent_log = root / "agent-log"
    agent_log.mkdir()
    identity = {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "ccs", "GIT_AUTHOR_EMAIL": "ccs@example.invalid",
                "GIT_COMMITTER_NAME": "ccs", "GIT_COMMITTER_EMAIL": "ccs@example.invalid"}
    with FakeGitHub.start(root, job_runner=None, git_http=True) as gh:
        # The runner image carries the agent CLI (the install step sees it on PATH).
        gh.job_runner = ActionJobRunner(
            gh, timeout=300, workflow_file=True, tools=[FAKE_AGENTS_DIR],
            image_env={**identity, "CCS_FAKE_AGENT_LOG": str(agent_log / LOG_NAME)})
        service = ServiceProcess.start(root, {**service_env(gh, root), **identity})
        gh.webhook_url = service.webhook_url
        try:
            yield gh, service, root
        finally:
            service.stop()


def user_repository(tmp_path: Path, agent: str = "claude",
                    extra: dict[str, str] | None = None) -> dict[str, str]:
    """Write the sample project, run `ccs init --agent` in it; return every file it holds."""
    repo = tmp_path / "shop"
    for path, text in {**SAMPLE, **(extra or {})}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    done = subprocess.run([sys.executable, "-m", "service.cli", "init", "--repo", str(repo),
                           "--agent", agent], capture_output=True, text=True, cwd=PROJECT,
                          check=False)
    assert done.returncode == 0, done.stderr
    return {str(p.relative_to(repo)): p.read_text() for p in repo.rglob("*") if p.is_file()}


def publish(gh: FakeGitHub, files: dict[str, str]) -> str:
    """Create the user's repository on the test GitHub; alice may write."""
    name = f"people/shop-{uuid.uuid4().hex[:8]}"
    gh.create_repository(name, files=files)
    gh.add_user("alice", permission="write", repo=name)
    return name


def implement(gh: FakeGitHub, ccs: ServiceProcess, repo: str) -> dict:
    """Comment `/ccs implement shop` on a new issue; wait for the session to rest."""
    issue = gh.create_issue(repo, title="Implement the shop")
    payload = gh.comment_payload(repo, issue.number, "/ccs implement shop", user="alice")
    assert gh.send_webhook("issue_comment", payload) == 202
    session = ccs.wait_for_session(repo)
    return ccs.wait_for_status(session["id"], timeout=240)


def job_tokens(gh: FakeGitHub, repo: str) -> list:
    """Return the tokens the test GitHub minted for the repository's jobs."""
    return [t for t in gh._tokens.values()
            if t.login == "github-actions[bot]" and t.repositories == [repo]]


def everything_written(gh: FakeGitHub, ccs: ServiceProcess, repo: str, session: dict,
                       root: Path) -> dict[str, str]:
    """Return every log, comment, page and stored byte the secret must not be in."""
    texts = {f"job {job.id} log": job.log + job.summary
             for run in gh.runs(repo) for job in run.jobs}
    for number in {c.issue for c in gh._comments.values() if c.repo == repo}:
        for comment in gh.comments(repo, number):
            texts[f"comment {comment.id}"] = comment.body
    texts.update({f"pull {p.number}": p.body for p in gh.pull_requests(repo)})
    texts["session json"] = json.dumps(ccs.session(session["id"]))
    texts["service log"] = ccs.logs()
    texts["database"] = (root / "ccs.db").read_bytes().decode("latin-1")
    for (_job, name), folder in gh.artifacts.items():
        for path in folder.rglob("*"):
            if path.is_file():
                texts[f"artifact {name}/{path.name}"] = path.read_text(errors="replace")
    return texts


def test_the_workflow_ccs_init_wrote_takes_an_issue_to_a_pull_request(world, tmp_path):
    gh, ccs, root = world
    repo = publish(gh, user_repository(tmp_path))
    secret = "sk-ant-api03-" + secrets.token_urlsafe(32)
    gh.set_secret(repo, "ANTHROPIC_API_KEY", secret)

    session = implement(gh, ccs, repo)

    assert session["status"] == "complete", session["message"]
    (pull,) = gh.pull_requests(repo)
    assert pull.head == session["branch"] and pull.draft
    assert "quantity" in gh.read_file(repo, session["branch"], "src/shop/cart.py")
    # The secret reached the agent (the fake refuses to work without it) ...
    # (Only this scenario runs claude: every claude call in the log is one of its two.)
    reached = [c["keys"]["ANTHROPIC_API_KEY"] for c in read_agent_log(root / "agent-log")
               if c["program"] == "claude"]
    assert reached == [{"present": True, "length": len(secret)}] * 2
    # ... and is in no log, comment, page, artifact or stored byte.
    leaks = [where for where, text in everything_written(gh, ccs, repo, session, root).items()
             if secret in text]
    assert leaks == []
    # The job's token could read but never write: the service pushed the child branch.
    (child,) = session["children"]
    assert child["attempts"] == 2 and child["run_url"].startswith("https://github.com/")
    assert "/job/" in child["run_url"]
    tokens = job_tokens(gh, repo)
    assert tokens and all(t.permissions == {"contents": "read", "id-token": "write"}
                          for t in tokens)
    assert gh.refused_pushes == [] or all(p.repo != repo for p in gh.refused_pushes)
    clone = tmp_path / "attempt"
    assert git_with_token(tmp_path, "clone", "-q", gh.clone_url(repo), str(clone),
                          token=tokens[0].value).returncode == 0
    pushed = git_with_token(clone, "push", "-q", "origin", "HEAD:refs/heads/ccs-stolen",
                            token=tokens[0].value)
    assert pushed.returncode != 0 and gh.branch_sha(repo, "ccs-stolen") is None
    # The transcript of both attempts was kept, and the summary links it.
    (job,) = [job for run in gh.runs(repo) for job in run.jobs
              if job.entry["component"] == "cart"]
    (folder,) = [path for (job_id, _), path in gh.artifacts.items() if job_id == job.id]
    kept = sorted(path.name for path in folder.iterdir())
    assert {"attempt-1-prompt.md", "attempt-1-coder.log", "attempt-1-tests.log",
            "attempt-2-coder.log", "attempt-2-tests.log"} <= set(kept)
    assert "1 failed" in (folder / "attempt-1-tests.log").read_text()
    assert f"/actions/runs/{job.run_id}/artifacts/" in job.summary


HUNTER = r'''
"""A coder that hunts for a token that can write, then does its job."""
import base64, json, os, re, subprocess, urllib.error, urllib.request
from pathlib import Path

SHAPE = re.compile(r"\b(gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})")
run_id = os.environ.get("GITHUB_RUN_ID", "")
found = {}  # token -> where it was seen


def scan(text, where):
    for match in SHAPE.findall(text):
        found.setdefault(match, where)
    for basic in re.findall(r"basic ([A-Za-z0-9+/=]{20,})", text, re.I):
        try:
            scan(base64.b64decode(basic).decode(errors="replace"), where + " (basic auth)")
        except ValueError:
            pass


scan("\n".join(f"{k}={v}" for k, v in os.environ.items()), "own environment")
for proc in Path("/proc").iterdir():
    try:
        environ = (proc / "environ").read_bytes().decode(errors="replace").replace("\0", "\n")
    except OSError:
        continue
    # On a hosted runner every process of this user is the job's; on the shared test
    # machine only those carrying this job's run id are.
    if f"GITHUB_RUN_ID={run_id}" in environ:
        scan(environ, f"/proc/{proc.name}/environ")
for top in (Path.cwd(), Path.cwd().parent):
    for path in (top / ".git").rglob("*") if (top / ".git").is_dir() else []:
        if path.is_file():
            try:
                scan(path.read_text(errors="replace"), str(path))
            except OSError:
                pass
    scan(subprocess.run(["git", "config", "--list", "--show-origin"], cwd=top,
                        capture_output=True, text=True).stdout, f"git config in {top}")

remote = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True,
                        text=True).stdout.strip()
api = os.environ.get("GITHUB_API_URL", "")
repo = os.environ.get("GITHUB_REPOSITORY", "")
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
tries = []
for token, where in found.items():
    header = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": "http.extraheader", "GIT_CONFIG_VALUE_0": header}
    pushed = subprocess.run(["git", "push", "-q", remote, "HEAD:refs/heads/ccs-hunted"],
                            env=env, capture_output=True, text=True).returncode == 0
    request = urllib.request.Request(f"{api}/repos/{repo}/git/refs", method="POST",
                                     data=json.dumps({"ref": "refs/heads/ccs-hunted-api",
                                                      "sha": head}).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as error:
        status = error.code
    tries.append({"where": where, "pushed": pushed, "api": status})
print("HUNT-REPORT " + json.dumps({"candidates": len(found), "tries": tries}))
Path("src/shop/cart.py").write_text("def total(items):\n"
                                    "    return sum(p * q for p, q in items)\n")
'''


def hunter_repository(gh: FakeGitHub, tmp_path: Path, contents: str = "read") -> str:
    """Publish the sample whose coder is the hunter (its job's token: `contents`)."""
    files = user_repository(tmp_path, extra={"tools/hunt.py": HUNTER})
    manifest = files[".github/ccs.yml"]
    start = manifest.index("\ncoder:") + 1
    end = manifest.index("\ntest:") + 1
    files[".github/ccs.yml"] = (manifest[:start] + 'coder:\n  command: ["python", '
                                '"tools/hunt.py"]\n  timeout: 120\n  attempts: 1\n'
                                + manifest[end:])
    files["tests/shop/test_cart.py"] = ("from shop.cart import total\n\n\ndef test_total():\n"
                                        "    assert total([(2, 3)]) == 6\n")
    workflow = ".github/workflows/ccs.yml"
    assert "      contents: read\n" in files[workflow]
    files[workflow] = files[workflow].replace("      contents: read\n",
                                              f"      contents: {contents}\n")
    return publish(gh, files)


def hunt_report(gh: FakeGitHub, repo: str) -> dict:
    """Return what the hunter printed in its job's log."""
    (job,) = [job for run in gh.runs(repo) for job in run.jobs
              if job.entry["component"] == "cart"]
    (line,) = [line for line in job.log.splitlines() if line.startswith("HUNT-REPORT ")]
    return json.loads(line.removeprefix("HUNT-REPORT "))


def test_a_coder_that_hunts_for_tokens_finds_none_that_can_write(world, tmp_path):
    gh, ccs, _ = world
    repo = hunter_repository(gh, tmp_path)

    session = implement(gh, ccs, repo)

    report = hunt_report(gh, repo)
    # It found the job's own (read) token where the action's process keeps it ...
    assert report["candidates"] >= 1, report
    assert any("/proc/" in t["where"] for t in report["tries"])
    # ... and nothing it found could write: git push and the REST API both refused.
    assert all(not t["pushed"] and t["api"] in (401, 403) for t in report["tries"]), report
    assert gh.branch_sha(repo, "ccs-hunted") is None
    assert gh.branch_sha(repo, "ccs-hunted-api") is None
    assert [p.status for p in gh.refused_pushes if p.repo == repo] == [403] * len(
        report["tries"])
    # Its work still came back, as a bundle the service pushed.
    assert session["status"] == "complete", session["message"]


def test_the_same_hunter_pushes_when_the_job_is_given_contents_write(world, tmp_path):
    # The control: the hunt is able to find and use a write token when the job has one.
    gh, ccs, _ = world
    repo = hunter_repository(gh, tmp_path, contents="write")

    implement(gh, ccs, repo)

    report = hunt_report(gh, repo)
    assert any(t["pushed"] for t in report["tries"]), report
    assert gh.branch_sha(repo, "ccs-hunted") is not None
