"""The runner stand-in runs a repository's own workflow file as GitHub would: the job
token's permissions, the OIDC variables only with id-token: write, actions/checkout
persisting the token unless told not to, pinned official actions only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.github_runner import ActionJobRunner

REPO = "octo/shop"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
WORKFLOW = """\
name: ccs
on:
  workflow_dispatch:
    inputs:
      matrix: {type: string, required: true}
permissions: {}
jobs:
  child:
    runs-on: ubuntu-latest
    permissions: {PERMISSIONS}
    strategy:
      matrix: ${{ fromJSON(inputs.matrix) }}
    steps:
      - uses: CHECKOUT
        with: {WITH}
      - name: Look around
        env:
          OUT: ${{ matrix.out }}
        run: |
          git config --local --get http.extraheader > "$OUT/header.txt" || true
          env | grep -c ACTIONS_ID_TOKEN_REQUEST > "$OUT/oidc.txt" || true
"""


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub.start(tmp_path, job_runner=None, git_http=True) as fake:
        fake.job_runner = ActionJobRunner(fake, timeout=60, workflow_file=True)
        yield fake


def run_workflow(gh: FakeGitHub, tmp_path: Path, permissions: str, with_: str,
                 checkout: str = CHECKOUT) -> tuple[str, Path]:
    """Commit the workflow, run one job of it; return its conclusion and its output folder."""
    text = (WORKFLOW.replace("{PERMISSIONS}", permissions).replace("{WITH}", with_)
            .replace("CHECKOUT", checkout))
    gh.create_repository(REPO, files={".github/workflows/ccs.yml": text})
    out = tmp_path / "out"
    out.mkdir()
    run = gh._start_run(gh.repository(REPO), gh.repository(REPO).workflows["ccs.yml"], "main",
                        {"matrix": json.dumps({"include": [{"out": str(out)}]})},
                        gh.add_user("alice"))
    (job,) = run.jobs
    assert gh.wait_for(lambda: job.status == "completed", timeout=60), job.log
    return job.conclusion, out


def test_a_read_job_with_persist_credentials_false_leaves_no_token_and_no_oidc(gh, tmp_path):
    conclusion, out = run_workflow(gh, tmp_path, "{contents: read}",
                                   "{persist-credentials: false}")
    assert conclusion == "success"
    assert (out / "header.txt").read_text() == ""
    assert (out / "oidc.txt").read_text().strip() == "0"


def test_checkout_persists_the_token_unless_told_not_to_and_oidc_needs_id_token(gh, tmp_path):
    conclusion, out = run_workflow(gh, tmp_path, "{contents: read, id-token: write}", "{}")
    assert conclusion == "success"
    assert (out / "header.txt").read_text().startswith("AUTHORIZATION: basic ")
    assert (out / "oidc.txt").read_text().strip() == "2"


def test_an_official_action_not_pinned_by_sha_fails_the_job(gh, tmp_path):
    conclusion, _ = run_workflow(gh, tmp_path, "{contents: read}", "{}",
                                 checkout="actions/checkout@v4")
    assert conclusion == "failure"
