"""Dependency waves (DESIGN §3b): cycles, wave numbers, who is ready, who must be cancelled.

Pure rules over component names: `needs` maps each component to the names it needs. A need
outside the mapping (a component left out by `--only`, already implemented on the base)
is satisfied and never delays anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from service.domain.states import ChildStatus

Needs = Mapping[str, Sequence[str]]


def find_cycle(needs: Needs) -> list[str] | None:
    """Return one cycle as [a, b, ..., a] (a needs b, ...), or None when there is none."""
    state: dict[str, str] = {}  # absent: unseen, "open": on the path, "done": explored

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        path.append(name)
        for need in needs.get(name, ()):
            if need not in needs:
                continue
            if state.get(need) == "open":
                return [*path[path.index(need):], need]
            if need not in state:
                found = visit(need, path)
                if found:
                    return found
        path.pop()
        state[name] = "done"
        return None

    for name in needs:
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return None


def describe_cycle(cycle: Sequence[str]) -> str:
    """Return a cycle spelled out: 'a needs b, b needs c, c needs a'."""
    return ", ".join(f"{a} needs {b}" for a, b in pairwise(cycle))


def wave_numbers(needs: Needs) -> dict[str, int]:
    """Return each component's wave: 0 without needs, else one after its latest need.

    Needs outside the mapping count as done; raise ValueError on a cycle.
    """
    cycle = find_cycle(needs)
    if cycle:
        raise ValueError(f"dependency cycle: {describe_cycle(cycle)}")
    waves: dict[str, int] = {}

    def wave(name: str) -> int:
        if name not in waves:
            inside = [n for n in needs.get(name, ()) if n in needs]
            waves[name] = 1 + max(map(wave, inside)) if inside else 0
        return waves[name]

    for name in needs:
        wave(name)
    return waves


def waves_in_order(order: Sequence[str], needs: Needs) -> list[list[str]]:
    """Return the waves as lists of names, each in the given (spawn) order."""
    numbers = wave_numbers({name: needs.get(name, ()) for name in order})
    waves: list[list[str]] = [[] for _ in range(max(numbers.values(), default=-1) + 1)]
    for name in order:
        waves[numbers[name]].append(name)
    return waves


def dependents(needs: Needs, of: Iterable[str]) -> set[str]:
    """Return every component that needs one of `of`, directly or through others."""
    found: set[str] = set()
    frontier = set(of)
    while frontier:
        frontier = {name for name, wanted in needs.items()
                    if name not in found and frontier & set(wanted)}
        found |= frontier
    return found


def root_cause(needs: Needs, name: str, failed: Iterable[str]) -> str | None:
    """Return the failed component `name` needs (directly first, then through others)."""
    failed = set(failed)
    seen, frontier = set(), [name]
    while frontier:
        direct = [n for current in frontier for n in needs.get(current, ()) if n not in seen]
        for need in direct:
            if need in failed:
                return need
        seen |= set(direct)
        frontier = [n for n in direct if n in needs]
    return None


def to_cancel(needs: Needs, statuses: Mapping[str, str]) -> dict[str, str]:
    """Return the pending components to cancel, each with the failed one it needs."""
    failed = [name for name, status in statuses.items()
              if ChildStatus(status).needs_rerun]
    waiting = dependents(needs, failed)
    cancel = {}
    # Name the component that failed itself, not one cancelled because of it.
    broke = [name for name in failed if statuses[name] != ChildStatus.CANCELLED]
    for name in sorted(waiting):
        if statuses.get(name) == ChildStatus.PENDING:
            cause = root_cause(needs, name, broke) or root_cause(needs, name, failed)
            if cause is not None:
                cancel[name] = cause
    return cancel


def ready_wave(waves: Mapping[str, int], statuses: Mapping[str, str]) -> tuple[int, list[str]]:
    """Return the next wave to dispatch and its pending components ((-1, []) for none).

    The lowest wave with pending components is ready once every component of the waves
    before it rests: a wave starts from the merged work of all of them.
    """
    pending = [name for name, status in statuses.items() if status == ChildStatus.PENDING]
    if not pending:
        return -1, []
    lowest = min(waves.get(name, 0) for name in pending)
    earlier_busy = any(waves.get(name, 0) < lowest and not ChildStatus(status).is_terminal
                       for name, status in statuses.items())
    if earlier_busy:
        return -1, []
    return lowest, [name for name in pending if waves.get(name, 0) == lowest]


def missing_needs(needs: Needs, named: Iterable[str],
                  implemented: Iterable[str]) -> dict[str, list[str]]:
    """Return, per named component, what it needs that is neither named nor implemented."""
    named, implemented = set(named), set(implemented)
    missing = {}
    for name in sorted(named):
        absent = [n for n in needs.get(name, ()) if n not in named and n not in implemented]
        if absent:
            missing[name] = absent
    return missing


def cancel_message(component: str, cause: str) -> str:
    """Return the message of a child cancelled because a component it needs failed."""
    return (f"{component}: cancelled: it needs {cause}, which did not succeed; it runs "
            f"again with {cause} on a retry")
