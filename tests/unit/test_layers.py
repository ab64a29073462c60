"""The layer rules of docs/architecture.md, read from the import statements themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("flask", "sqlalchemy", "github", "git", "alembic", "huey", "werkzeug", "jwt",
              "yaml", "jsonschema", "gunicorn", "rich")


def imports_of(path: Path) -> set[str]:
    """Return every module a file imports (absolute names), at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("package", ["service.domain", "service.orchestrator"])
def test_the_inner_rooms_import_no_adapter_and_no_framework(package: str) -> None:
    offenders = {}
    for path in modules(package):
        bad = {name for name in imports_of(path)
               if name.split(".")[0] in FRAMEWORKS or name.startswith("service.adapters")
               or name.startswith(("service.web", "service.cli", "service.worker",
                                   "service.bootstrap", "service.config", "action"))}
        if package == "service.domain":
            bad |= {n for n in imports_of(path) if n.startswith("service.orchestrator")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_action_imports_nothing_from_service() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in imports_of(p)
                                                  if n.split(".")[0] == "service")
                 for p in modules("action")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_orchestrator_has_no_import_cycle() -> None:
    graph = {f"service.orchestrator.{p.stem}": {n for n in imports_of(p)
                                                if n.startswith("service.orchestrator.")}
             for p in modules("service.orchestrator") if p.stem != "__init__"}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join((*trail, node))}"
        for nxt in graph.get(node, ()):
            visit(nxt, (*trail, node))

    for module in graph:
        visit(module, ())


def test_no_test_module_imports_another() -> None:
    offenders = [f"{p.relative_to(ROOT)} imports {name}" for p in (ROOT / "tests").rglob("*.py")
                 for name in imports_of(p)
                 if name.startswith(("tests.unit", "tests.integration", "tests.e2e"))]
    assert offenders == []
