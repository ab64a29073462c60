"""A project with N instant components, and a job runner that skips the Actions runner.

The runner does what a child job's outcome would be without running anything: it commits
the component's two files on the child branch in the bare repository (starting at the
session branch), then POSTs a valid result with an OIDC token from the test GitHub.
A barrier releases every job's callback at the same instant.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from tests.fakes.github import FakeGitHub
from tests.fakes.github_state import WorkflowRun

CONTEXT = "bulk"
CODER = '''"""Write the component and a test that passes (what the fast job runner does too)."""
import os
from pathlib import Path

name = os.environ["CCS_COMPONENT"]
Path(os.environ["CCS_IMPLEMENTATION"]).parent.mkdir(parents=True, exist_ok=True)
Path(os.environ["CCS_IMPLEMENTATION"]).write_text(f"NAME = {name!r}\\n")
Path(os.environ["CCS_TEST"]).parent.mkdir(parents=True, exist_ok=True)
Path(os.environ["CCS_TEST"]).write_text("def test_it():\\n    assert True\\n")
'''
JUNIT = '''"""Write a JUnit report with one passing test (argv[1] is the report path)."""
import sys
from pathlib import Path

Path(sys.argv[1]).write_text('<testsuite tests="1" failures="0" errors="0" skipped="0">'
                             '<testcase classname="t" name="test_it"/></testsuite>')
'''


def component_names(count: int) -> list[str]:
    """Return `count` component names, c0000 … (valid manifest names)."""
    return [f"c{index:04d}" for index in range(count)]


def project_files(count: int, verify: bool = False) -> dict[str, str]:
    """Return a repository whose manifest has one context of `count` instant components
    (and, with `verify`, a whole-suite verify that the fast runner passes)."""
    components = "\n".join(f"      - name: {name}" for name in component_names(count))
    manifest = f"""version: 1
base: main
paths:
  design: docs/design/{{context}}/{{component}}.md
  implementation: src/{{context}}/{{component}}.py
  test: tests/{{context}}/test_{{component}}.py
coder:
  command: ["python", "tools/coder.py"]
  timeout: 30
  attempts: 1
test:
  command: ["python", "tools/junit.py", "{{junit}}"]
  timeout: 30
{'verify: {command: ["python", "tools/junit.py", "{junit}"]}' if verify else ''}
parallel: 256
pull_request: {{draft: true}}
contexts:
  {CONTEXT}:
    description: Many instant components
    components:
{components}
"""
    files = {".github/ccs.yml": manifest, "tools/coder.py": CODER, "tools/junit.py": JUNIT,
             "README.md": "# bulk\n"}
    for name in component_names(count):
        files[f"docs/design/{CONTEXT}/{name}.md"] = f"# {name}\n\nA constant.\n"
    return files


def post_result(url: str, token: str, body: dict[str, Any], timeout: float = 60) -> int:
    """POST one child result; return the HTTP status."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # nobody answered: the service is down


class FastJobRunner:
    """Commit each component's files itself and call back; `barrier` lines the callbacks up.

    `service_up` (when given) is waited on before each callback, and a callback nobody
    answered is sent again once it is set: a job outlives a crash of the service, as a real
    one on Actions does. Each callback passes the test GitHub's hold point
    `CALLBACK /<owner>/<repo>/<component>` first, so a test can stop one there.
    """

    def __init__(self, gh: FakeGitHub, barrier: threading.Barrier | None = None,
                 service_up: threading.Event | None = None) -> None:
        self.gh, self.barrier, self.service_up = gh, barrier, service_up
        self.statuses: list[int] = []
        self.latencies: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        """Run one component (or verify) job; return the job's conclusion."""
        if inputs.get("mode") == "verify":
            return self._verify(run, entry, inputs)
        repo = self.gh.repository(run.repo)
        name = entry["component"]
        files = {entry["implementation"]: f"NAME = {name!r}\n",
                 entry["test"]: "def test_it():\n    assert True\n"}
        commit = repo.git.commit_files(entry["child_branch"], files, f"ccs: {name}",
                                       start=f"refs/heads/{inputs['branch']}")
        body = {"status": "succeeded", "commit": commit, "branch": entry["child_branch"],
                "attempts": 1, "tests": {"passed": 1, "failed": 0, "errors": 0, "skipped": 0},
                "changed_files": sorted(files), "message": "", "run_id": run.id}
        return self._call_back(run, entry, inputs, body, name)

    def _verify(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        """Pass verify on the staging branch's head (what the whole suite would do)."""
        commit = self.gh.branch_sha(run.repo, entry["ref"])
        body = {"status": "succeeded", "commit": commit, "attempts": 1,
                "tests": {"passed": 1, "failed": 0, "errors": 0, "skipped": 0},
                "changed_files": [], "message": "", "run_id": run.id}
        return self._call_back(run, entry, inputs, body, "verify")

    def _call_back(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str],
                   body: dict[str, Any], name: str) -> str:
        url = f"{inputs['callback']}/api/v1/children/{entry['child']}/result"
        if self.barrier is not None:
            self.barrier.wait(60)
        hold = self.gh.holds.take("CALLBACK", f"/{run.repo}/{name}")
        if hold is not None:
            hold.arrived.set()
            hold.released.wait()
        started = time.perf_counter()
        while True:
            if self.service_up is not None:
                self.service_up.wait()
            token = self.gh.oidc_token(run.repo, run.id, inputs["callback"])
            status = post_result(url, token, body)
            if status or self.service_up is None:
                break
            time.sleep(0.1)  # back off before asking a restarting service again
        if hold is not None:
            hold.done.set()
        with self._lock:
            self.statuses.append(status)
            self.latencies.append(time.perf_counter() - started)
        return "success" if status < 300 else "failure"
