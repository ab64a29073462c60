"""`ccs init`: the manifest and workflow written into a target repository."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from pathlib import Path

import action as action_package
from action.agents import preset
from service.adapters.manifest.parse import MANIFEST_PATH, parse_manifest
from service.cli.workflow import python_version, workflow_text
from service.domain.manifest import Manifest, ManifestError
from service.domain.names import NAME_PATTERN

ACTION_DIR = ".github/actions/ccs"
WORKFLOW_PATH = ".github/workflows/ccs.yml"
DESIGN_DIR = "docs/design"
EXAMPLE_CONTEXT = {"example": ["greeter"]}
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


def action_files() -> dict[str, str]:
    """Return the action to vendor under .github/actions/ccs/: action.yml and the stdlib
    runner package, from the installed ccs, stamped with the ccs version that wrote it."""
    package = Path(action_package.__file__).resolve().parent
    files = {f"{ACTION_DIR}/action/{path.relative_to(package).as_posix()}": path.read_text()
             for path in sorted(package.rglob("*.py")) if "__pycache__" not in path.parts}
    action_yml = (package / "action.yml").read_text()
    # Vendored, the package sits beside action.yml rather than one folder up.
    files[f"{ACTION_DIR}/action.yml"] = action_yml.replace('PYTHONPATH="$GITHUB_ACTION_PATH/.."',
                                                           'PYTHONPATH="$GITHUB_ACTION_PATH"')
    files[f"{ACTION_DIR}/VERSION"] = f"{ccs_version()}\n"
    return files


def _kept_manifest(repo: Path, contexts: dict[str, list[str]]) -> tuple[Manifest, str | None]:
    """Return the kept manifest to derive the workflow from, or the default one and why."""
    try:
        return parse_manifest((repo / MANIFEST_PATH).read_text(encoding="utf-8"),
                              MANIFEST_PATH), None
    except (ManifestError, OSError, UnicodeDecodeError) as error:
        return parse_manifest(manifest_text(contexts), MANIFEST_PATH), str(error).split("\n")[0]


def ccs_version() -> str:
    """Return the installed ccs version."""
    try:
        return importlib.metadata.version("ccs")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


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
    targets = (MANIFEST_PATH, WORKFLOW_PATH, f"{ACTION_DIR}/action.yml")
    # A dangling symlink counts as existing: writing through it would land elsewhere.
    existing = [path for path in targets if os.path.lexists(repo / path)]
    if existing and not force:
        raise ScaffoldExists(existing)
    found = infer_contexts(repo)
    contexts = found.contexts or EXAMPLE_CONTEXT
    texts = {MANIFEST_PATH: manifest_text(contexts, agent)}
    kept = []
    manifest = repo / MANIFEST_PATH
    if MANIFEST_PATH in existing and manifest.is_file() and not manifest.is_symlink():
        if agent is None:
            kept.append(MANIFEST_PATH)
            del texts[MANIFEST_PATH]
        else:
            texts[MANIFEST_PATH] = replace_coder(manifest.read_text(encoding="utf-8"), agent)
    # Never write a manifest that `ccs check` would refuse.
    written = texts.get(MANIFEST_PATH)
    if written is not None:
        manifest = parse_manifest(written, MANIFEST_PATH)  # never write one check refuses
    else:
        manifest, problem = _kept_manifest(repo, contexts)
        if problem:
            kept[-1] = (f"{MANIFEST_PATH} ({problem}; the workflow uses the default timeouts "
                        "and no secrets: fix it, then run `ccs init --force` again)")
    texts[WORKFLOW_PATH] = workflow_text(manifest, python_version(repo))
    texts.update(action_files())
    root = repo.resolve()
    for path, text in texts.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root):
            # A committed symlinked folder must not carry a write outside the repository.
            raise ScaffoldExists([f"{path} (its folder leads outside the repository)"])
        if target.is_symlink():
            target.unlink()
        target.write_text(text, encoding="utf-8")
    return Scaffold(list(texts), contexts, bool(found.contexts), found.skipped, kept)
