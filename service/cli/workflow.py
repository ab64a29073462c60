"""The `.github/workflows/ccs.yml` that `ccs init` writes (DESIGN §6a), as text.

The job holds no write credential: the coder runs arbitrary commands, and any process of
the job's user can read the step's environment, so the child commit travels back in the
result as a git bundle and the service pushes it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from action.agents import preset
from service.domain.manifest import Manifest

WORKFLOW_INPUTS = {
    "session": "ccs session id",
    "branch": "session branch the children start from (component mode)",
    "callback": "ccs service URL the job reports to (also the OIDC audience)",
    "mode": "component or verify",
    "config": "JSON: setup, coder, test and verify commands and attempts",
    "matrix": "JSON: {\"include\": [one entry per component]}",
    "max-parallel": "most component jobs at once (from the manifest: parallel)",
}
OPTIONAL_INPUTS = {"branch": "", "mode": "component", "max-parallel": "8"}
# Official actions, pinned by full commit sha (zizmor/actionlint clean); bump together.
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5.3.0"
UPLOAD_ARTIFACT = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2"
TIMEOUT_MARGIN_MINUTES = 10
# Where the action writes each attempt's prompt, coder output and test output.
TRANSCRIPT_DIR = "${{ runner.temp }}/ccs-transcript"


def job_timeout_minutes(manifest: Manifest) -> int:
    """Return the job's timeout-minutes: setup + attempts x (coder + test), plus a margin."""
    seconds = (manifest.setup.timeout if manifest.setup else 0) + manifest.attempts * (
        manifest.coder.timeout + manifest.test.timeout)
    verify = manifest.verify.timeout if manifest.verify else 0
    return math.ceil(max(seconds, verify) / 60) + TIMEOUT_MARGIN_MINUTES


def python_version(repo: Path) -> str:
    """Return the Python a runner needs: .python-version, else requires-python's floor."""
    pinned = repo / ".python-version"
    if pinned.is_file() and pinned.read_text().strip():
        return pinned.read_text().split()[0]
    project = repo / "pyproject.toml"
    if project.is_file():
        found = re.search(r"requires-python\s*=\s*[\"'][^\"'\d]*(\d+\.\d+)",
                          project.read_text(errors="replace"))
        if found:
            return found.group(1)
    return "3.12"


def workflow_text(manifest: Manifest, python: str = "3.12") -> str:
    """Return the workflow that runs each dispatch with the vendored action: no reference
    to any repository but the user's own, and no write credential in the job."""
    return "\n".join([*_header(), *_job(manifest, python), *_steps(manifest, python)]) + "\n"


def _header() -> list[str]:
    lines = [
        "# Dispatched by ccs (never by hand): one job per component of a session.",
        "# Written by `ccs init`; `ccs init --force` upgrades it with the action beside it.",
        "name: ccs",
        "run-name: ccs ${{ inputs.session }}",
        "on:",
        "  workflow_dispatch:",
        "    inputs:",
    ]
    for name, description in WORKFLOW_INPUTS.items():
        lines += [
            f"      {name}:",
            f"        description: '{description}'",
            f"        required: {'false' if name in OPTIONAL_INPUTS else 'true'}",
            "        type: string",
        ]
        if name in OPTIONAL_INPUTS:
            lines.append(f"        default: '{OPTIONAL_INPUTS[name]}'")
    return [*lines, "permissions: {}"]


def _job(manifest: Manifest, python: str) -> list[str]:
    return [
        "jobs:",
        "  child:",
        "    name: ccs ${{ matrix.component }}",
        "    runs-on: ubuntu-latest",
        f"    timeout-minutes: {job_timeout_minutes(manifest)}",
        "    permissions:",
        "      # No write token where the agent runs: the commit goes back as a git bundle",
        "      # in the result and the ccs service pushes the child branch itself.",
        "      contents: read",
        "      id-token: write  # the OIDC token that signs the result callback",
        "    strategy:",
        "      fail-fast: false",
        "      max-parallel: ${{ fromJSON(inputs.max-parallel) }}",
        "      matrix: ${{ fromJSON(inputs.matrix) }}",
    ]


def _steps(manifest: Manifest, python: str) -> list[str]:
    lines = [
        "    steps:",
        f"      - uses: {CHECKOUT}",
        "        with:",
        "          persist-credentials: false",
        f"      - uses: {SETUP_PYTHON}",
        "        with:",
        f"          python-version: '{python}'",
        *_agent_install_step(manifest),
        "      - name: Run ${{ matrix.component }}",
        "        uses: ./.github/actions/ccs",
    ]
    if manifest.coder.env:
        lines += ["        env:  # the coder's secrets, by name (never through inputs)"]
        lines += [f"          {name}: ${{{{ secrets.{name} }}}}" for name in manifest.coder.env]
    lines += [
        "        with:",
        "          entry: ${{ toJSON(matrix) }}",
        *[f"          {name}: ${{{{ inputs.{name} }}}}"
          for name in ("config", "session", "branch", "callback", "mode")],
    ]
    return lines + _transcript_steps()


def _transcript_steps() -> list[str]:
    """Return the steps that keep the transcript as an artifact and link it in the summary."""
    return [
        "      - name: Keep the transcript",
        "        id: transcript",
        "        if: always()",
        f"        uses: {UPLOAD_ARTIFACT}",
        "        with:",
        "          name: ccs-transcript-${{ matrix.child }}",
        f"          path: {TRANSCRIPT_DIR}",
        "          if-no-files-found: ignore",
        "          retention-days: 14",
        "      - name: Link the transcript from the summary",
        "        if: always() && steps.transcript.outputs.artifact-url != ''",
        "        env:",
        "          ARTIFACT_URL: ${{ steps.transcript.outputs.artifact-url }}",
        "        run: |",
        '          echo "Transcript (prompts, coder and test output per attempt):'
        ' [ccs-transcript]($ARTIFACT_URL)" >> "$GITHUB_STEP_SUMMARY"',
    ]


def _agent_install_step(manifest: Manifest) -> list[str]:
    """Return the step that installs the preset's CLI unless the runner already has it."""
    if not manifest.coder.agent:
        return []
    chosen = preset(manifest.coder.agent)
    return [
        f"      - name: Install {chosen.program} (skipped when it is on PATH)",
        "        run: |",
        f"          command -v {chosen.program} || {chosen.install}",
    ]
