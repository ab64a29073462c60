"""Aider (`aider`) run as a one-shot script."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from action.agents.base import AgentRun, Invocation, usage_of

# "Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session."
_TOKENS = re.compile(r"Tokens:\s*([\d.,]+[kKmM]?)\s*sent,[^\n]*?([\d.,]+[kKmM]?)\s*received")
_COST = re.compile(r"Cost:\s*\$([\d.,]+)\s*message(?:,\s*\$([\d.,]+)\s*session)?")
_SCALE = {"k": 1_000, "m": 1_000_000}


@dataclass(frozen=True)
class Aider:
    """The `aider` CLI (PyPI aider-chat); its key depends on the model's provider."""

    name: str = "aider"
    program: str = "aider"
    secret: str = "OPENAI_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "python -m pip install aider-chat==0.86.2"
    # Its repository map cache (.aider.tags.cache.v4/) has no option to live elsewhere.
    scratch_files: tuple[str, ...] = (".aider*",)

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `aider --message-file PROMPT` on the component's files, never committing."""
        scratch = Path(run.prompt_path).parent
        # Scripting docs: "--message-file MESSAGE_FILE, -f MESSAGE_FILE  Specify a file
        # containing the message to send GPT, process reply, then exit (disables chat mode)"
        argv = ["aider", "--message-file", run.prompt_path,
                # aider/args.py: "--yes-always  Always say yes to every confirmation"
                "--yes-always",
                # "--auto-commits  Enable/disable auto commit of LLM changes (default:
                # True)"; "--dirty-commits  Enable/disable commits when repo is found dirty
                # (default: True)": ccs commits, nobody else.
                "--no-auto-commits", "--no-dirty-commits",
                # "--gitignore  Enable/disable adding .aider* to .gitignore (default: True)";
                # "--chat-history-file ... (default: .aider.chat.history.md)" in the git
                # root: files outside the component's own, so the histories go to scratch.
                "--no-gitignore",
                "--chat-history-file", str(scratch / "aider.chat.history.md"),
                "--input-history-file", str(scratch / "aider.input.history"),
                # "--check-update  Check for new aider versions on launch"; "--pretty
                # Enable/disable pretty, colorized output": a log, not a terminal.
                "--no-check-update", "--no-pretty",
                # With --yes-always, a model warning's "open the docs?" and the first run's
                # analytics question would be answered yes; neither is ours to answer.
                "--no-show-model-warnings", "--no-analytics"]
        if run.model:
            argv += ["--model", run.model]
        for path in run.read_files:
            # "--read FILE  specify a read-only file (can be used multiple times)"
            argv += ["--read", path]
        # aider edits only the files it is given; its own --test-cmd loop stays off so
        # that ccs's attempts remain the one loop. It takes no turn or spending cap.
        argv += list(run.files)
        return Invocation(tuple(argv))

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Read aider's `Tokens: … Cost: …` lines (its only report of what it spent)."""
        sent = received = 0
        for match in _TOKENS.finditer(stdout):
            sent += _tokens(match.group(1))
            received += _tokens(match.group(2))
        messages = sessions = None
        for match in _COST.finditer(stdout):
            messages = (messages or 0.0) + _number(match.group(1))
            if match.group(2):
                sessions = _number(match.group(2))
        # The session figure is aider's own running total; without it, add the messages.
        return usage_of(sessions if sessions is not None else messages, sent, received)


def _number(text: str) -> float:
    try:
        return max(0.0, float(text.replace(",", "")))
    except ValueError:
        return 0.0


def _tokens(text: str) -> int:
    scale = _SCALE.get(text[-1].lower(), 1)
    digits = text[:-1] if scale != 1 else text
    return int(_number(digits) * scale)


PRESET = Aider()
