"""`ccs check` and `ccs init`: validate the manifest, scaffold a repository (DESIGN §4)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from action.agents import preset
from action.prompt import TEMPLATE_NAMES, unknown_names
from service.adapters.manifest.parse import MANIFEST_PATH, load_manifest
from service.cli.scaffold import (
    ACTION_DIR,
    WORKFLOW_PATH,
    ScaffoldExists,
    ccs_version,
    scaffold,
)
from service.domain.manifest import Component, Manifest, ManifestError
from service.domain.waves import waves_in_order

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def check(args: argparse.Namespace) -> int:
    """Validate the manifest and print its resolved components; 0 if valid, 2 if not."""
    repo = Path(args.repo)
    manifest_path = getattr(args, "manifest", None) or MANIFEST_PATH
    as_json = getattr(args, "json", False)
    try:
        manifest = load_manifest(repo, manifest_path)
        resolved = {name: manifest.components(name) for name in manifest.contexts}
    except ManifestError as error:
        print(f"ccs check: {error}", file=sys.stderr)
        if as_json:
            print(json.dumps({"manifest": str(repo / manifest_path), "status": "rejected",
                              "message": str(error)}))
        return EXIT_BAD_INPUT
    if as_json:
        print(json.dumps({
            "manifest": str(repo / manifest_path),
            "status": "valid",
            "contexts": {
                name: [_component_json(c) for c in components]
                for name, components in resolved.items()
            },
            "waves": {name: waves_of(components) for name, components in resolved.items()},
        }))
    else:
        _print_table(manifest, resolved)
    for stale in (action_warning(repo), workflow_warning(repo)):
        if stale:
            print(f"ccs check: warning: {stale}", file=sys.stderr)
    note = commit_note(repo, manifest_path)
    if note:
        print(f"ccs check: note: {note}", file=sys.stderr)
    for warning in program_warnings(manifest, repo) + template_warnings(manifest, repo):
        print(f"ccs check: warning: {warning}", file=sys.stderr)
    print(_sandbox_line(manifest), file=sys.stderr if as_json else sys.stdout)
    return EXIT_OK


def action_warning(repo: Path) -> str | None:
    """Say so when the vendored action was written by another ccs than this one."""
    stamp = repo / ACTION_DIR / "VERSION"
    if not stamp.is_file():
        return None
    written, installed = stamp.read_text().strip(), ccs_version()
    if written == installed:
        return None
    return (f"{ACTION_DIR} was written by ccs {written}, this is ccs {installed}: run "
            "`ccs init --force` to upgrade the workflow and the action")


def workflow_warning(repo: Path) -> str | None:
    """Say so when the workflow still hands the agent's job a write token (an older init)."""
    workflow = repo / WORKFLOW_PATH
    try:
        text = workflow.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not re.search(r"^\s*contents:\s*write\b", text, re.MULTILINE):
        return None
    return (f"{WORKFLOW_PATH} gives the job that runs the coder `contents: write`; ccs no "
            "longer needs it (the commit travels back as a bundle and the service pushes "
            "it), and the agent could use it: run `ccs init --force`")


def commit_note(repo: Path, manifest_path: str) -> str | None:
    """Say so when the checked manifest differs from the committed one `ccs run` reads."""
    git = shutil.which("git")
    if git is None:
        return None
    run = functools.partial(subprocess.run, cwd=repo, capture_output=True, check=False)
    if run([git, "rev-parse", "--verify", "--quiet", "HEAD"]).returncode != 0:
        return None  # not a repository, or no commit yet: nothing to compare with
    tracked = run([git, "ls-files", "--error-unmatch", "--", manifest_path]).returncode == 0
    changed = run([git, "diff", "--quiet", "HEAD", "--", manifest_path]).returncode != 0
    if tracked and not changed:
        return None
    state = "is not committed" if not tracked else "has uncommitted changes"
    return (f"{manifest_path} {state}: this check read the working tree, but `ccs run` reads "
            "the base commit; commit it before you run")


def program_warnings(manifest: Manifest, repo: Path) -> list[str]:
    """Say which setup, coder and test programs do not resolve on this machine.

    A warning, not an error: in service mode they run on a runner (where `setup` may
    install them), not here.
    """
    programs = []
    if manifest.setup:
        programs.append(("setup", manifest.setup.command[0]))
    if manifest.coder.agent:
        programs.append((f"coder (agent {manifest.coder.agent})",
                         preset(manifest.coder.agent).program))
    else:
        programs.append(("coder", manifest.coder.command[0]))
    programs.append(("test", manifest.test.command[0]))
    # Local children run with ccs's own interpreter first on PATH (so `python` is its venv).
    search = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
    return [f"the {role} program {program!r} is not on PATH here (nor in the repository); "
            "install it, or let `setup` install it where the children run"
            for role, program in programs if not _resolves(program, repo, search)]


def _resolves(program: str, repo: Path, search: str) -> bool:
    if "/" in program:
        candidate = Path(program) if Path(program).is_absolute() else repo / program
        return candidate.is_file() and os.access(candidate, os.X_OK)
    return shutil.which(program, path=search) is not None


def template_warnings(manifest: Manifest, repo: Path) -> list[str]:
    """Name the `${...}` a custom prompt template uses that no attempt fills in."""
    if not manifest.coder.prompt:
        return []
    path = repo / manifest.coder.prompt
    if not path.is_file():
        return [f"coder.prompt: no template at {manifest.coder.prompt} in the working tree"]
    unknown = unknown_names(path.read_text(encoding="utf-8", errors="replace"))
    return [f"coder.prompt: {manifest.coder.prompt} uses ${{{name}}}, which is not a template "
            f"name (left as written); the names are: {', '.join(TEMPLATE_NAMES)}"
            for name in unknown]


def _sandbox_line(manifest: Manifest) -> str:
    """Say whether local children would run sandboxed here, and why (DESIGN §8)."""
    from service.adapters.local.sandbox import SandboxError, plan_sandbox

    try:
        return plan_sandbox(manifest.sandbox, os.environ).describe()
    except SandboxError as error:
        return f"sandbox: {error}"


def _component_json(component: Component) -> dict[str, Any]:
    body = asdict(component)
    body["allow"] = list(component.allow)
    return body


def waves_of(components: list[Component]) -> list[list[str]]:
    """Return a context's dependency waves, each in spawn order (DESIGN §3b)."""
    return waves_in_order([c.name for c in components], {c.name: c.needs for c in components})


def _print_table(manifest: Manifest, resolved: dict[str, list[Component]]) -> None:
    console = Console()
    if not console.is_terminal:
        # Paths must print whole when piped; an 80-column default would fold them.
        console = Console(width=200)
    total = sum(len(components) for components in resolved.values())
    table = Table(title=f"{manifest.source}: {len(resolved)} contexts, {total} components",
                  title_justify="left")
    for column in ("context", "component", "priority", "design", "implementation", "test",
                   "allow", "needs"):
        table.add_column(column, overflow="fold", justify="right" if column == "priority"
                         else "left")
    for name, components in resolved.items():
        for component in components:
            table.add_row(name, component.name, str(component.priority), component.design,
                          component.implementation, component.test,
                          ", ".join(component.allow), ", ".join(component.needs))
    console.print(table)
    for name, components in resolved.items():
        waves = waves_of(components)
        if len(waves) > 1:
            steps = "  ".join(f"{number}) {', '.join(wave)}"
                              for number, wave in enumerate(waves, start=1))
            console.print(f"waves of {name}: {steps}", highlight=False, markup=False)
    if manifest.integration:
        console.print(f"integration: up to {manifest.integration.attempts} coder round(s) on "
                      "the merged tree when verify fails", highlight=False, markup=False)
    coder = (f"agent {manifest.coder.agent}" if manifest.coder.agent
             else " ".join(manifest.coder.command))
    console.print(
        f"coder: {coder} (timeout {manifest.coder.timeout} s, "
        f"{manifest.attempts} attempts); parallel {manifest.parallel}",
        highlight=False, markup=False,
    )


def init(args: argparse.Namespace) -> int:
    """Scaffold the manifest and workflow into the repository; 2 if a file exists."""
    repo = Path(args.repo)
    if not repo.is_dir():
        print(f"ccs init: no directory at {repo}", file=sys.stderr)
        return EXIT_BAD_INPUT
    agent = getattr(args, "agent", None)
    try:
        result = scaffold(repo, force=getattr(args, "force", False), agent=agent)
    except (ValueError, ManifestError) as error:
        print(f"ccs init: {error}; nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ScaffoldExists as error:
        verb = "exists" if len(error.paths) == 1 else "exist"
        print(f"ccs init: {' and '.join(error.paths)} already {verb}; nothing was written "
              "(use --force to overwrite)", file=sys.stderr)
        return EXIT_BAD_INPUT
    vendored = [path for path in result.written if path.startswith(f"{ACTION_DIR}/")]
    for path in result.written:
        if path not in vendored:
            print(f"wrote {path}")
    if vendored:
        print(f"wrote {ACTION_DIR}/ (the action the workflow uses, {len(vendored)} files)")
    for path in result.kept:
        print(f"kept {path} as written (pass --agent NAME to replace its coder section)")
    origin = "from docs/design" if result.inferred else "an example; edit it"
    for context, components in result.contexts.items():
        print(f"context {context} ({origin}): {', '.join(components)}")
    for skipped in result.skipped:
        print(f"skipped {skipped}: not a valid context or component name "
              "(^[a-z][a-z0-9_]{0,62}$)")
    if agent:
        secret = preset(agent).secret
        print(f"next: add the repository secret {secret} (Settings → Secrets → Actions), "
              "then run `ccs check`")
    else:
        print("next: edit the coder command in .github/ccs.yml, then run `ccs check`")
    return EXIT_OK
