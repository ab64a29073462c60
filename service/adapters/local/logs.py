"""The local log folder: `<repo>/.git/ccs/logs/<session>/<component>/attempt-<k>/…`."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from action.logcap import CappedLog

ATTEMPT_FILES = ("prompt.md", "coder.log", "tests.log")
RUNNER_LOG = "runner.log"
_ATTEMPT = re.compile(r"^attempt-([1-9][0-9]{0,5})\Z")
# What a runner keeps next to its attempts (setup, verify): copied in as they are.
_EXTRA_FILES = ("setup.log", "verify.log")


@dataclass(frozen=True)
class LogFolder:
    """The logs of every local session of one repository, one folder per session."""

    root: Path

    def session_dir(self, session_id: str) -> Path:
        """Return the folder of one session's logs."""
        return self.root / _safe(session_id)

    def component_dir(self, session_id: str, component: str) -> Path:
        """Return the folder of one component's logs in a session."""
        return self.session_dir(session_id) / _safe(component)

    def runner_log(self, session_id: str, component: str) -> Path:
        """Return the file the whole runner output of a component goes to (live)."""
        return self.component_dir(session_id, component) / RUNNER_LOG

    def components(self, session_id: str) -> list[str]:
        """Return the components that have logs in a session."""
        folder = self.session_dir(session_id)
        return sorted(p.name for p in _real_dirs(folder))

    def attempts(self, session_id: str, component: str) -> list[int]:
        """Return the attempt numbers kept for a component, in order."""
        folder = self.component_dir(session_id, component)
        found = (_ATTEMPT.match(p.name) for p in _real_dirs(folder))
        return sorted(int(m.group(1)) for m in found if m)

    def attempt_file(self, session_id: str, component: str, attempt: int, name: str) -> Path:
        """Return one file of one attempt."""
        return self.component_dir(session_id, component) / f"attempt-{attempt}" / name

    def keep(self, session_id: str, component: str, written: Path) -> list[int]:
        """Copy the attempts a runner wrote in `written` in after those already kept.

        A retry's attempts count on from the earlier round's, so no round overwrites another.
        Only regular files are copied: a coder may have planted links in its scratch folder.
        """
        target = self.component_dir(session_id, component)
        offset = max(self.attempts(session_id, component), default=0)
        kept = []
        for source in sorted(_real_dirs(written), key=lambda p: _number(p.name)):
            number = _number(source.name)
            if number is None:
                continue
            folder = target / f"attempt-{offset + number}"
            folder.mkdir(parents=True, exist_ok=True)
            for name in ATTEMPT_FILES:
                _copy_file(source / name, folder / name)
            kept.append(offset + number)
        for name in _EXTRA_FILES:
            _copy_file(written / name, target / name)
        return kept

    def remove(self, session_id: str) -> bool:
        """Delete a session's logs; return True when there were any."""
        folder = self.session_dir(session_id)
        if not folder.is_dir() or folder.is_symlink():
            return False
        shutil.rmtree(folder)
        return True


def _safe(part: str) -> str:
    """Return `part` when it is one plain path segment, else raise ValueError."""
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise ValueError(f"{part!r} is not a session id or component name")
    return part


def _number(name: str) -> int | None:
    match = _ATTEMPT.match(name)
    return int(match.group(1)) if match else None


def _real_dirs(folder: Path) -> list[Path]:
    """Return the folders (never links) directly in `folder`."""
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _copy_file(source: Path, target: Path) -> None:
    """Copy a regular file, head and tail capped: the coder could have grown it past the cap."""
    if not source.is_file() or source.is_symlink():
        return
    with source.open("rb") as reading, target.open("wb") as writing:
        capped = CappedLog(writing)
        for chunk in iter(lambda: reading.read(1 << 16), b""):
            capped.write(chunk)
        capped.close()


SECTIONS = (("prompt.md", "prompt"), ("coder.log", "what the coder printed"),
            ("tests.log", "test output"))


def render(folder: LogFolder, session_id: str, component: str,
           attempts: list[int] | None = None) -> str:
    """Return a component's logs as text: setup, then per attempt prompt, coder and tests.

    Without attempt logs (a child still running, or one that never started) the runner's
    own live log stands in.
    """
    numbers = folder.attempts(session_id, component) if attempts is None else attempts
    base = folder.component_dir(session_id, component)
    parts = [f"=== {component} ({base}) ==="]
    parts += _section("setup output", base / "setup.log", missing=None)
    for number in numbers:
        parts.append(f"\n--- {component}: attempt {number} ---")
        for name, title in SECTIONS:
            parts += _section(title, folder.attempt_file(session_id, component, number, name),
                              missing="(nothing recorded)")
    parts += _section("verify output", base / "verify.log", missing=None)
    if not numbers and attempts is None:
        parts += _section("runner output", base / RUNNER_LOG, missing="(no log yet)")
    return "\n".join(parts) + "\n"


def _section(title: str, path: Path, missing: str | None) -> list[str]:
    if not path.is_file() or path.is_symlink():
        return [] if missing is None else [f"# {title}: {missing}"]
    text = path.read_text(encoding="utf-8", errors="replace")
    return [f"# {title} ({path.name}):", text.rstrip("\n") or "(empty)"]
