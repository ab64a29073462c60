"""`ccs init`: the manifest and workflow written into a target repository."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from action.agents import preset
from service.adapters.manifest.parse import MANIFEST_PATH, parse_manifest
from service.domain.names import NAME_PATTERN

# The reusable workflow of the ccs project that a target repository's workflow calls.
# Change the owner/repo or pin another ref here; nothing else names it.
REUSABLE_WORKFLOW = "ccs-dev/ccs/.github/workflows/ccs.yml@v1"
WORKFLOW_PATH = ".github/workflows/ccs.yml"
DESIGN_DIR = "docs/design"
EXAMPLE_CONTEXT = {"example": ["greeter"]}
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


class ScaffoldExists(Exception):
    """A file `ccs init` would write is already there and --force was not given."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


@dataclass(frozen=True)
class Inferred:
    """Contexts and components found under docs/design, and the names skipped."""

    contexts: dict[str, list[str]]
    skipped: list[str] = field(default_factory=list)


def infer_contexts(repo: Path) -> Inferred:
    """Return contexts and components from `docs/design/<context>/<component>.md` files."""
    root = repo / DESIGN_DIR
    contexts: dict[str, list[str]] = {}
    skipped: list[str] = []
    if not root.is_dir():
        return Inferred({}, [])
    for context_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        docs = sorted(p for p in context_dir.glob("*.md") if p.is_file())
        if not docs:
            continue
        relative = f"{DESIGN_DIR}/{context_dir.name}"
        if not NAME_PATTERN.match(context_dir.name):
            skipped.append(relative)
            continue
        components = []
        for doc in docs:
            if NAME_PATTERN.match(doc.stem):
                components.append(doc.stem)
            else:
                skipped.append(f"{relative}/{doc.name}")
        if components:
            contexts[context_dir.name] = components
    return Inferred(contexts, skipped)


def coder_section(agent: str | None = None) -> list[str]:
    """Return the manifest's `coder:` lines: a command to replace, or an agent preset."""
    if agent is None:
        return [
            "coder:",
            "  # Replace with your coding agent (or `agent: claude` etc., see docs/agents.md); it",
            "  # reads $CCS_DESIGN and writes $CCS_IMPLEMENTATION and $CCS_TEST (from attempt 2",
            "  # on, $CCS_FEEDBACK holds the last test output; $CCS_PROMPT the whole prompt).",
            '  command: ["python", "tools/coder.py", "{design}", "{implementation}", "{test}"]',
            "  timeout: 1800                 # seconds per attempt",
            "  attempts: 3                   # coder -> tests rounds per component",
        ]
    chosen = preset(agent)
    return [
        "coder:",
        f"  agent: {agent}                 # runs `{chosen.program}` headless (docs/agents.md)",
        f"  env: [{chosen.secret}]   # the repository secret the job hands the agent",
        "  # model: ...                  # optional: the agent's model",
        "  # budget_usd: 2.0             # optional: most one component may spend",
        "  timeout: 1800                 # seconds per attempt",
        "  attempts: 3                   # coder -> tests rounds per component",
    ]


def replace_coder(text: str, agent: str) -> str:
    """Return manifest text whose top-level `coder:` block is the preset's; the rest, comments
    included, stays as written."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "coder:"), None)
    if start is None:
        raise ValueError("the manifest has no top-level `coder:` block to replace")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    # Keep blank lines and comments that introduce the next key with that key.
    while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return "\n".join([*lines[:start], *coder_section(agent), *lines[end:]]) + "\n"


def manifest_text(contexts: dict[str, list[str]], agent: str | None = None) -> str:
    """Return a commented `.github/ccs.yml` declaring `contexts`."""
    lines = [
        "# ccs manifest: contexts, their components and the commands each child job runs.",
        "# Reference: docs/manifest.md in the ccs project. Check it with `ccs check`.",
        "version: 1",
        "paths:                          # placeholders: {context} {component}",
        "  design: docs/design/{context}/{component}.md",
        "  implementation: src/{context}/{component}.py",
        "  test: tests/{context}/test_{component}.py",
        *coder_section(agent),
        "test:",
        '  command: ["python", "-m", "pytest", "-q", "{test}", "--junitxml={junit}"]',
        "  timeout: 600",
        "verify:                         # optional: whole suite on the merged tree",
        '  command: ["python", "-m", "pytest", "-q"]',
        "parallel: 8",
        "pull_request: {draft: true}     # or false: push the branch only",
        "contexts:",
    ]
    for context, components in contexts.items():
        lines += [f"  {context}:", f"    description: {context}", "    components:"]
        lines += [f"      - name: {component}" for component in components]
    return "\n".join(lines) + "\n"


def workflow_text() -> str:
    """Return the `.github/workflows/ccs.yml` that hands each dispatch to ccs's workflow."""
    lines = [
        "# Dispatched by ccs (never by hand): one job per component of a session.",
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
    lines += [
        "permissions: {}",
        "jobs:",
        "  ccs:",
        "    # Write the child branches and ask for the OIDC token the callback is signed with.",
        "    permissions:",
        "      contents: write",
        "      id-token: write",
        f"    uses: {REUSABLE_WORKFLOW}",
        "    with:",
    ]
    lines += [f"      {name}: ${{{{ inputs.{name} }}}}" for name in WORKFLOW_INPUTS]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Scaffold:
    """What `ccs init` wrote."""

    written: list[str]
    contexts: dict[str, list[str]]
    inferred: bool
    skipped: list[str]
    kept: list[str] = field(default_factory=list)


def scaffold(repo: Path, force: bool = False, agent: str | None = None) -> Scaffold:
    """Write the manifest and workflow into `repo`; raise ScaffoldExists unless `force`.

    With `force` an existing manifest is kept as written, except that `agent` replaces its
    coder section (DESIGN §6a).
    """
    targets = (MANIFEST_PATH, WORKFLOW_PATH)
    # A dangling symlink counts as existing: writing through it would land elsewhere.
    existing = [path for path in targets if os.path.lexists(repo / path)]
    if existing and not force:
        raise ScaffoldExists(existing)
    found = infer_contexts(repo)
    contexts = found.contexts or EXAMPLE_CONTEXT
    texts = {MANIFEST_PATH: manifest_text(contexts, agent), WORKFLOW_PATH: workflow_text()}
    kept = []
    manifest = repo / MANIFEST_PATH
    if MANIFEST_PATH in existing and manifest.is_file() and not manifest.is_symlink():
        if agent is None:
            kept.append(MANIFEST_PATH)
            del texts[MANIFEST_PATH]
        else:
            texts[MANIFEST_PATH] = replace_coder(manifest.read_text(encoding="utf-8"), agent)
    # Never write a manifest that `ccs check` would refuse.
    if MANIFEST_PATH in texts:
        parse_manifest(texts[MANIFEST_PATH], MANIFEST_PATH)
    for path, text in texts.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(text, encoding="utf-8")
    return Scaffold(list(texts), contexts, bool(found.contexts), found.skipped, kept)
