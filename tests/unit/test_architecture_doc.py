"""docs/architecture.md must show exactly the transitions the named moves allow."""

from __future__ import annotations

import re
from pathlib import Path

from service.domain.states import (
    CHILD_TRANSITIONS,
    SESSION_TRANSITIONS,
    child_diagram,
    session_diagram,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
EDGE = re.compile(r"^\s+(\w+) --> (\w+)(?::.*)?$")


def diagram_edges(title: str) -> set[tuple[str, str]]:
    """Return the edges of the Mermaid diagram under the given heading."""
    section = DOC.read_text(encoding="utf-8").split(f"## {title}", 1)[1]
    block = section.split("```mermaid", 1)[1].split("```", 1)[0]
    return {m.groups() for line in block.splitlines() if (m := EDGE.match(line))}


def table_edges(table: dict) -> set[tuple[str, str]]:
    """Return the edges a transition table allows."""
    return {(source.value, target.value) for source, targets in table.items()
            for target in targets}


def test_session_diagram_matches_the_table():
    assert diagram_edges("Session states") == table_edges(SESSION_TRANSITIONS)


def test_child_diagram_matches_the_table():
    assert diagram_edges("Child states") == table_edges(CHILD_TRANSITIONS)


def diagram_text(title: str) -> str:
    """Return the Mermaid block under the given heading, as written."""
    section = DOC.read_text(encoding="utf-8").split(f"## {title}", 1)[1]
    return section.split("```mermaid\n", 1)[1].split("\n```", 1)[0]


def test_the_diagrams_are_the_generated_ones():
    assert diagram_text("Session states") == session_diagram(), (
        "regenerate with `python -m service.domain.states`")
    assert diagram_text("Child states") == child_diagram()


def test_folder_map_names_every_module():
    root = DOC.parents[1]
    text = DOC.read_text(encoding="utf-8")
    modules = [p for package in ("service", "action") for p in (root / package).rglob("*.py")
               if p.name != "__init__.py" and "versions" not in p.parts]
    missing = sorted(str(p.relative_to(root)) for p in modules if p.name not in text)
    assert missing == [], f"docs/architecture.md does not mention {missing}"
