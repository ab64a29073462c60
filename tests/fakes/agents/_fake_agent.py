"""What the fake agent CLIs share: the file-block protocol, keys, cost, output, the log.

stdlib only; the executables beside this file import it from their own folder. The
protocol (which fenced blocks of the prompt a fake writes, and when) is in README.md.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from _fake_args import fail

DEFAULT_COST_USD = 0.05

# ---- the file-block protocol (README.md) ------------------------------------------------

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# Lines that mark failing test output (pytest's summary, its assertion lines, tracebacks).
_FEEDBACK = re.compile(
    r"^(FAILED|ERROR) \S|^E\s{2,}\S|\b\d+ (failed|errors?)\b|AssertionError"
    r"|Traceback \(most recent call last\)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class FileBlock:
    """A fenced block that names the file it holds (` ```python file=src/a.py `)."""

    path: str
    text: str
    when: str  # "always", "first" (only without feedback) or "feedback" (only with it)


def split_blocks(prompt: str) -> tuple[list[FileBlock], str]:
    """Return the prompt's file blocks and the prompt without them."""
    blocks: list[FileBlock] = []
    rest: list[str] = []
    lines = prompt.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index].strip())
        attributes = _attributes(opening.group("info")) if opening else {}
        if not opening or "file" not in attributes:
            rest.append(lines[index])
            index += 1
            continue
        fence = opening.group("fence")
        body, index = _block_body(lines, index + 1, fence)
        blocks.append(FileBlock(attributes["file"], body, attributes.get("when", "always")))
    return blocks, "".join(rest)


def _attributes(info: str) -> dict[str, str]:
    """Read the `key=value` words of a fence's info string."""
    words = (word.partition("=") for word in info.split())
    return {key: value.strip("\"'") for key, sep, value in words if sep}


def _block_body(lines: list[str], start: int, fence: str) -> tuple[str, int]:
    """Return a block's text from `start` to its closing fence, and the line after it."""
    for end in range(start, len(lines)):
        closing = lines[end].strip()
        if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
            return "".join(lines[start:end]), end + 1
    return "".join(lines[start:]), len(lines)


def has_feedback(text: str) -> bool:
    """Tell whether `text` carries failing test output."""
    return bool(_FEEDBACK.search(text))


def is_listed(path: str, text: str) -> bool:
    """Tell whether `path` appears in `text` as a path of its own (not inside a longer one)."""
    return bool(re.search(rf"(?<![\w./-]){re.escape(path)}(?![\w/-]|\.\w)", text))


@dataclass
class Edits:
    """What a fake wrote, and what it refused to write with the reason."""

    written: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    feedback: bool = False
    chars: int = 0


def apply_blocks(
    prompt: str,
    root: Path,
    refuse_all: str | None = None,
    veto: Callable[[str], str | None] | None = None,
) -> Edits:
    """Write the prompt's file blocks under `root` as the protocol says.

    `refuse_all` says why nothing may be written; `veto(path)` why one path may not be.
    """
    blocks, rest = split_blocks(prompt)
    edits = Edits(feedback=has_feedback(rest))
    for block in blocks:
        if block.when == ("first" if edits.feedback else "feedback"):
            continue
        reason = refuse_all or _refusal(block.path, rest, root) or (veto and veto(block.path))
        if reason:
            edits.refused[block.path] = reason
            continue
        target = root / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text)
        edits.chars += len(block.text)
        if block.path not in edits.written:
            edits.written.append(block.path)
    return edits


def _refusal(path: str, rest: str, root: Path) -> str | None:
    """Say why `path` may not be written, or None when it may."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or ".git" in pure.parts:
        return "not a relative path inside the checkout"
    if not (root / path).resolve().is_relative_to(root.resolve()):
        return "leads outside the checkout"
    if not is_listed(path, rest):
        return "the prompt does not list it as a file to write or change"
    return None


# ---- keys, cost, tokens, the log ---------------------------------------------------------


def key_report(names: Iterable[str]) -> dict[str, dict[str, object]]:
    """Say for each key variable whether it is set and how long it is (never its value)."""
    report = {}
    for name in names:
        value = os.environ.get(name, "")
        report[name] = {"present": bool(value), "length": len(value)}
    return report


def has_any_key(report: dict[str, dict[str, object]]) -> bool:
    """Tell whether any key variable of `report` is set."""
    return any(entry["present"] for entry in report.values())


def fake_cost() -> float:
    """Return what one invocation costs: CCS_FAKE_AGENT_COST dollars (default 0.05)."""
    raw = os.environ.get("CCS_FAKE_AGENT_COST", str(DEFAULT_COST_USD))
    try:
        cost = float(raw)
    except ValueError:
        fail(f"CCS_FAKE_AGENT_COST must be a number of dollars such as 0.05, not {raw!r}", 2)
    if cost < 0:
        fail(f"CCS_FAKE_AGENT_COST must not be negative, got {raw!r}", 2)
    return cost


def token_counts(prompt: str, edits: Edits) -> tuple[int, int]:
    """Return made-up but stable input and output token counts (about 4 characters a token)."""
    return max(1, len(prompt) // 4), 20 + edits.chars // 4


def new_id() -> str:
    """Return a session id shaped like the real CLIs' ones."""
    return str(uuid.uuid4())


def read_stdin() -> str:
    """Read standard input to its end, or return '' when it is a terminal or closed."""
    if sys.stdin is None or sys.stdin.closed or sys.stdin.isatty():
        return ""
    return sys.stdin.read()


def log_invocation(program: str, argv: list[str], prompt: str | None, **details: object) -> None:
    """Append one JSON line about this invocation to $CCS_FAKE_AGENT_LOG, when it is set."""
    log_path = os.environ.get("CCS_FAKE_AGENT_LOG")
    if not log_path:
        return
    record = {"program": program, "argv": argv, "cwd": os.getcwd(), "prompt": prompt, **details}
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def edit_details(edits: Edits, cost: float) -> dict[str, object]:
    """Return the log fields that say what an invocation wrote and spent."""
    return {
        "written": edits.written,
        "refused": edits.refused,
        "feedback": edits.feedback,
        "cost_usd": cost,
    }


def wait_if_asked() -> None:
    """Block until the file named by CCS_FAKE_AGENT_WAIT_FOR exists (tests of cancelling)."""
    marker = os.environ.get("CCS_FAKE_AGENT_WAIT_FOR")
    while marker and not os.path.exists(marker):
        time.sleep(0.05)  # polls an event the test sets; the test itself never sleeps


def emit(text: str, *, stream: object = None) -> None:
    """Print `text` (stdout by default) and flush, so a killed fake has shown it."""
    target = stream or sys.stdout
    print(text, file=target, flush=True)
