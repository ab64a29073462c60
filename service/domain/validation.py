"""Validation rules: is a child's work acceptable to merge? Pure functions over facts."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.manifest import Component
from service.domain.wire import TestCounts


@dataclass(frozen=True)
class ChildFacts:
    """What is known about one child's work, read from the result and from git."""

    component: Component
    reported_status: str
    reported_message: str
    commit: str | None
    commit_on_branch: bool
    file_sizes: dict[str, int | None]
    tests: TestCounts
    changed_files: tuple[str, ...]
    symlinks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One reason a child's work cannot be merged, with what to do about it."""

    component: str
    rule: str
    message: str


def validate_child(facts: ChildFacts) -> list[Finding]:
    """Return every finding against one child's work (empty when it may be merged)."""
    name = facts.component.name

    def finding(rule: str, message: str) -> Finding:
        return Finding(name, rule, f"{name}: {message}")

    if facts.reported_status != "succeeded":
        reason = facts.reported_message or "the job reported failure"
        return [finding("succeeded", f"{reason}. Fix the design doc or coder, then retry.")]
    if not facts.commit or not facts.commit_on_branch:
        return [finding("commit", "its result names a commit that is not on its child branch; "
                        "retry to run it again.")]
    findings = []
    if facts.symlinks:
        # A link makes the merged tree write or read outside the repository (DESIGN §8).
        findings.append(finding("symlink", f"{', '.join(sorted(facts.symlinks))} is a symbolic "
                                f"link at {facts.commit[:12]}; component files and changes "
                                "must be regular files."))
    for kind in ("implementation", "test"):
        path = getattr(facts.component, kind)
        size = facts.file_sizes.get(path)
        if size is None:
            findings.append(finding("files", f"{kind} file {path} does not exist at "
                                    f"{facts.commit[:12]}; the coder must write it."))
        elif size == 0:
            findings.append(finding("files", f"{kind} file {path} is empty at "
                                    f"{facts.commit[:12]}; the coder must write it."))
    if facts.tests.ran < 1:
        findings.append(finding("tests", "no tests ran; check the test command and that "
                                f"{facts.component.test} holds tests."))
    elif facts.tests.failed or facts.tests.errors:
        findings.append(finding("tests", f"tests did not pass ({facts.tests.summary()})."))
    outside = sorted(set(facts.changed_files) - facts.component.own_files)
    if outside:
        shown = ", ".join(outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10
                                           else "")
        findings.append(finding("scope", f"changed files outside its own: {shown}. Add them to "
                                "the component's 'allow' list or keep the coder to its files."))
    return findings


def attention_message(context: str, findings: list[Finding], retry_hint: str) -> str:
    """Return the session message for a round whose findings block finalize."""
    components = sorted({f.component for f in findings})
    lines = [f"{len(components)} component(s) of {context} need attention:"]
    lines += [f"- {f.message}" for f in findings]
    lines.append(retry_hint)
    return "\n".join(lines)
