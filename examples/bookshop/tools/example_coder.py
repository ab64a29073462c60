#!/usr/bin/env python3
"""Deterministic stand-in for an AI coder: copies the code out of a component's design doc."""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

ALWAYS_FAIL_MARKER = "<!-- ccs-example: always-fail -->"
OPENING_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
# "4 failed" (pytest, ccs), "failed 4" / failures="1" (ccs counts, JUnit), "FAILED test_x"
# lines, tracebacks and time-outs; zero counts such as "errors 0" are not failures.
FAILURE_PATTERN = re.compile(
    r"\b[1-9]\d*\s+(failed|failures?|errors?)\b"
    r"|\b(failed|failures?|errors?)[\s:=\"']*[1-9]"
    r"|^(FAILED|ERROR)\b|^Traceback|\btimed out\b",
    re.IGNORECASE | re.MULTILINE,
)
TAGS = {"": "implementation", "test": "test", "fix": "fix"}
INTEGRATION = "_integration"  # the component name of ccs's integration child (DESIGN §3b)


class CoderError(Exception):
    """A problem that stops the coder; the message says what to fix."""


def parse_blocks(text: str) -> dict[str, str]:
    """Return the python blocks of a Markdown text by role: implementation, test, fix."""
    blocks: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = OPENING_FENCE.match(lines[index].strip())
        index += 1
        if not match:
            continue
        fence, info = match["fence"], match["info"].split()
        body: list[str] = []
        while index < len(lines):
            line = lines[index]
            index += 1
            if re.fullmatch(f"{re.escape(fence[0])}{{{len(fence)},}}", line.strip()):
                break
            body.append(line)
        else:
            raise CoderError("the design doc has a code block that is never closed")
        if not info or info[0].lower() != "python":
            continue
        tag = info[1].lower() if len(info) > 1 else ""
        role = TAGS.get(tag)
        if role is None:
            continue
        if role in blocks:
            raise CoderError(f"the design doc has more than one ```python {tag} block".rstrip())
        blocks[role] = "\n".join(body).strip("\n") + "\n"
    return blocks


def _top_level_definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    """Return the module's top-level functions and classes by name."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name: node for node in tree.body if isinstance(node, kinds)}


def _span(node: ast.stmt) -> tuple[int, int]:
    """Return the 0-based [start, end) line span of a definition, decorators included."""
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start - 1, node.end_lineno or node.lineno


def apply_fix(source: str, fix: str) -> tuple[str, list[str]]:
    """Replace each function or class defined in `fix` with the same name in `source`."""
    try:
        tree = ast.parse(source)
        fix_tree = ast.parse(fix)
    except SyntaxError as error:
        raise CoderError(f"cannot apply the fix block: {error}") from error
    fixes = _top_level_definitions(fix_tree)
    if not fixes or len(fixes) != len(fix_tree.body):
        raise CoderError("the ```python fix block may hold only functions and classes")
    targets = _top_level_definitions(tree)
    lines, fix_lines = source.splitlines(), fix.splitlines()
    appended: list[str] = []
    for name, node in sorted(fixes.items(), key=lambda item: -item[1].lineno):
        start, end = _span(node)
        replacement = fix_lines[start:end]
        if name in targets:
            target_start, target_end = _span(targets[name])
            lines[target_start:target_end] = replacement
        else:
            appended = ["", "", *replacement, *appended]
    return "\n".join(lines + appended) + "\n", sorted(fixes)


def seam_blocks(text: str) -> list[tuple[str, str]]:
    """Return the ```python seam <path> blocks of a Markdown text as (path, code) pairs."""
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        info = line.strip().removeprefix("```").split()
        if not line.strip().startswith("```") or info[:2] != ["python", "seam"] or len(info) != 3:
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise CoderError("the design doc has a seam block that is never closed")
        found.append((info[2], "\n".join(lines[index + 1:end]) + "\n"))
    return found


def apply_seam(source: str, fix: str) -> tuple[str, list[str]]:
    """Replace each function defined in `fix` with the function (or method) of that name in
    `source`, at its indentation."""
    try:
        tree, fix_tree = ast.parse(source), ast.parse(fix)
    except SyntaxError as error:
        raise CoderError(f"cannot apply the seam block: {error}") from error
    targets = {node.name: node for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    fixes = _top_level_definitions(fix_tree)
    missing = sorted(set(fixes) - set(targets))
    if missing:
        raise CoderError(f"the seam block names {', '.join(missing)}, which the file lacks")
    lines, fix_lines = source.splitlines(), fix.splitlines()
    for name, node in sorted(fixes.items(), key=lambda item: -targets[item[0]].lineno):
        start, end = _span(node)
        indent = " " * targets[name].col_offset
        target_start, target_end = _span(targets[name])
        lines[target_start:target_end] = [indent + line if line else line
                                          for line in fix_lines[start:end]]
    return "\n".join(lines) + "\n", sorted(fixes)


def integrate(root: Path, design: Path) -> None:
    """The integration child: apply every seam block of the context's design docs, when
    the feedback (verify's output) reports a failure."""
    if not feedback_shows_failure():
        print("example coder: integration: verify reported no failure; nothing to fix")
        return
    for doc in sorted(design.parent.glob("*.md")):
        for path, fix in seam_blocks(doc.read_text(encoding="utf-8")):
            target = (root / path).resolve()
            if not target.is_relative_to(root) or ".git" in target.relative_to(root).parts:
                raise CoderError(f"{doc.name}: seam path {path!r} is outside the repository")
            code, names = apply_seam(target.read_text(encoding="utf-8"), fix)
            target.write_text(code, encoding="utf-8")
            print(f"example coder: integration: applied the seam of {doc.name} to {path} "
                  f"({', '.join(names)})")


def inside_root(root: Path, variable: str) -> Path:
    """Return the path named by environment `variable`, refusing anything outside `root`."""
    value = os.environ.get(variable, "")
    if not value:
        raise CoderError(f"{variable} is not set")
    path = (root / value).resolve()
    if not path.is_relative_to(root) or path == root:
        raise CoderError(f"{variable}={value!r} is outside the repository {root}; refusing")
    if ".git" in path.relative_to(root).parts:
        raise CoderError(f"{variable}={value!r} points into .git; refusing")
    return path


def feedback_shows_failure() -> bool:
    """Return whether CCS_FEEDBACK names a readable file that reports a failure."""
    name = os.environ.get("CCS_FEEDBACK", "")
    if not name:
        return False
    try:
        text = Path(name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(FAILURE_PATTERN.search(text))


def run() -> None:
    """Write the implementation and test files for one component."""
    root = Path.cwd().resolve()
    design = inside_root(root, "CCS_DESIGN")
    if os.environ.get("CCS_COMPONENT") == INTEGRATION:
        integrate(root, design)
        return
    implementation = inside_root(root, "CCS_IMPLEMENTATION")
    test = inside_root(root, "CCS_TEST")
    try:
        attempt = int(os.environ.get("CCS_ATTEMPT") or "1")
    except ValueError as error:
        raise CoderError(f"CCS_ATTEMPT must be a number: {error}") from error
    try:
        text = design.read_text(encoding="utf-8")
    except OSError as error:
        raise CoderError(f"cannot read the design doc {design}: {error}") from error
    blocks = parse_blocks(text)
    if "implementation" not in blocks:
        raise CoderError(f"{design.relative_to(root)} has no ```python block to implement")
    if "test" not in blocks:
        raise CoderError(f"{design.relative_to(root)} has no ```python test block")
    code = blocks["implementation"]
    print(f"example coder: attempt {attempt} for {design.relative_to(root)}")
    if attempt >= 2 and feedback_shows_failure():
        if any(line.strip() == ALWAYS_FAIL_MARKER for line in text.splitlines()):
            print("example coder: the always-fail marker is set; not applying any fix")
        elif "fix" in blocks:
            code, names = apply_fix(code, blocks["fix"])
            print(f"example coder: previous tests failed; applied the fix to {', '.join(names)}")
        else:
            print("example coder: previous tests failed but the design doc has no fix block")
    for path, content in ((implementation, code), (test, blocks["test"])):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"example coder: wrote {path.relative_to(root)} ({len(content.splitlines())} lines)")


def main() -> int:
    """Run the coder; exit 0 on success and 2 with a message on bad input."""
    try:
        run()
    except CoderError as error:
        print(f"example coder: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
