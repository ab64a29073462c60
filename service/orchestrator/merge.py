"""Merge the children's commits in spawn order, without a checkout."""

from __future__ import annotations

from dataclasses import dataclass

from service.orchestrator.ports import ChildRecord, Git


@dataclass(frozen=True)
class MergeConflict:
    """A child whose commit could not be merged on top of the ones before it."""

    child: ChildRecord
    files: tuple[str, ...]
    earlier: tuple[str, ...]

    def message(self) -> str:
        """Return a message naming the files and the components involved."""
        files = ", ".join(self.files) or "(unknown files)"
        others = ", ".join(self.earlier) or "the base branch"
        return (f"{self.child.component}: merge conflict in {files} with {others}. Give the "
                "components separate files (or fix the base), then retry.")


@dataclass(frozen=True)
class Merged:
    """The merged tree as one commit on top of the base."""

    commit: str


def merge_children(git: Git, base_sha: str, children: list[ChildRecord],
                   message: str) -> Merged | MergeConflict:
    """Merge each child's commit in order; squash the result into one commit on the base."""
    chained = merge_chain(git, base_sha, children)
    if isinstance(chained, MergeConflict):
        return chained
    return Merged(git.commit_tree(_tree_of(git, chained.commit), [base_sha], message))


def merge_chain(git: Git, base_sha: str, children: list[ChildRecord]) -> Merged | MergeConflict:
    """Merge each child's commit in order onto the base, keeping them as parents.

    A later wave starts here (DESIGN §3b): its history holds the work it builds on.
    """
    current = base_sha
    for index, child in enumerate(children):
        outcome = git.merge_tree(current, child.commit)
        if outcome.tree is None:
            touched = set(outcome.conflicts)
            earlier = tuple(
                c.component for c in children[:index] if touched & set(c.changed_files or [])
            )
            return MergeConflict(child, outcome.conflicts, earlier)
        current = git.commit_tree(outcome.tree, [current, child.commit],
                                  f"Merge {child.component}")
    return Merged(current)


def _tree_of(git: Git, commit: str) -> str:
    # merge_tree(commit, commit) returns the commit's own tree without another git verb.
    outcome = git.merge_tree(commit, commit)
    assert outcome.tree is not None
    return outcome.tree


def finalize_message(context: str, children: list[ChildRecord]) -> str:
    """Return the commit message for the finalized session."""
    lines = [f"Implement {context} context", ""]
    for child in children:
        lines.append(f"- {child.component}: {child.tests_passed} tests passed, "
                     f"{child.attempts} attempt(s)")
    return "\n".join(lines) + "\n"
