"""The transcript folder: each attempt's prompt, coder output and test output, as files.

In a job the folder becomes an artifact (the workflow's upload-artifact step). GitHub masks
secrets in the job log but not in artifacts, so every value the job was handed as a
secret is masked here before it is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from action.commands import CommandOutcome

MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words


class Transcript:
    """Write what each command printed to `folder` (nothing when it is None)."""

    def __init__(self, folder: Path | None, secrets: Iterable[str] = ()) -> None:
        self.folder = folder
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS},
                              key=len, reverse=True)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def mask(self, text: str) -> str:
        """Return `text` with every secret value replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def write(self, name: str, text: str) -> None:
        """Write one file of the transcript (masked)."""
        if self.folder is not None:
            (self.folder / name).write_text(self.mask(text), encoding="utf-8")

    def command(self, title: str, shown: list[str], outcome: CommandOutcome,
                timeout: float) -> None:
        """Record one command: what ran, how it ended, and the head and tail it printed."""
        status = "succeeded" if outcome.ok else outcome.describe(timeout)
        self.write(f"{file_name(title)}.log",
                   f"$ {' '.join(shown)}\n# {status} ({outcome.duration:.1f} s)\n\n"
                   f"--- stdout ---\n{outcome.stdout}\n--- stderr ---\n{outcome.stderr}\n")

    def copy(self, name: str, source: Path) -> None:
        """Copy a file the runner wrote (an attempt's prompt) into the transcript."""
        if source.is_file():
            self.write(name, source.read_text(encoding="utf-8", errors="replace"))


def file_name(title: str) -> str:
    """Return a file name for a step title: 'attempt 2/3: tests' → 'attempt-2-tests'."""
    title = re.sub(r"(\d+)/\d+", r"\1", title.lower())
    return re.sub(r"[^a-z0-9]+", "-", title).strip("-") or "command"
