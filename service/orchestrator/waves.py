"""Dependency waves in Spawn (DESIGN §3b): cancel what needs a failure, then hand out the next
wave, each child starting from the base plus the merged work of the waves before it."""

from __future__ import annotations

from service.domain.states import ChildMoves, ChildStatus
from service.domain.waves import cancel_message, ready_wave, to_cancel
from service.orchestrator.context import Ports
from service.orchestrator.merge import MergeConflict, merge_chain
from service.orchestrator.ports import ChildRecord, SessionRecord
from service.orchestrator.validate import judge_succeeded


def wave_of(child: ChildRecord) -> int:
    """Return the dependency wave a child runs in (0 when it needs nothing)."""
    return int(child.spec.get("wave") or 0)


def next_wave(ports: Ports, session: SessionRecord) -> list[ChildRecord]:
    """Return the pending children to dispatch now, their start commits recorded.

    Before a later wave starts, the work it builds on is checked (the validation rules) and
    merged; a failure there fails that child and cancels what needs it, and the next wave
    is looked for again.
    """
    children = ports.store.children(session.id)
    if not any(child.spec.get("needs") for child in children):
        return [c for c in children if c.status == ChildStatus.PENDING]
    for _ in range(len(children) + 1):
        cancel_dependents(ports, session, children)
        children = ports.store.children(session.id)
        number, names = ready_wave({c.component: wave_of(c) for c in children},
                                   {c.component: c.status for c in children})
        ready = [c for c in children if c.component in names]
        if number <= 0:
            return ready
        earlier = [c for c in children
                   if wave_of(c) < number and c.status == ChildStatus.SUCCEEDED]
        start = _start_commit(ports, session, earlier)
        if start is None:
            children = ports.store.children(session.id)
            continue  # something it builds on failed: cancel its dependents, look again
        ports.host.start_wave(session, number, start)
        for child in ready:
            # Two racing callers merge the same children into the same tree, so whichever
            # start commit is recorded, the scope guard diffs the same changes.
            ports.store.update_child(child.id, start_sha=start)
        ports.store.log(session.id, "wave", {"wave": number, "components": names},
                        f"wave {number} starts at {start[:12]}")
        return [c for c in ports.store.children(session.id) if c.component in names]
    return []


def cancel_dependents(ports: Ports, session: SessionRecord,
                      children: list[ChildRecord]) -> list[str]:
    """Cancel every pending child that needs one that did not succeed; return their names."""
    needs = {c.component: tuple(c.spec.get("needs") or ()) for c in children}
    doomed = to_cancel(needs, {c.component: c.status for c in children})
    cancelled = []
    for child in children:
        cause = doomed.get(child.component)
        if cause and ports.store.apply(ChildMoves.CANCEL, child.id,
                                       message=cancel_message(child.component, cause),
                                       finished_at=ports.clock.now()):
            cancelled.append(child.component)
    if cancelled:
        ports.store.log(session.id, "cancel", cancelled,
                        f"cancelled {', '.join(cancelled)}: what they need did not succeed",
                        ok=False)
    return cancelled


def _start_commit(ports: Ports, session: SessionRecord,
                  earlier: list[ChildRecord]) -> str | None:
    """Return the base with `earlier` merged in; None after failing one that breaks a rule."""
    assert session.base_sha is not None
    if judge_succeeded(ports, session, earlier):
        return None
    merged = merge_chain(ports.git, session.base_sha, earlier)
    if isinstance(merged, MergeConflict):
        ports.store.apply(ChildMoves.FAIL_VALIDATION, merged.child.id,
                          message=merged.message())
        return None
    return merged.commit
