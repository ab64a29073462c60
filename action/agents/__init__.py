"""Agent presets: one small module per agent CLI, and the registry of them.

Interface (DESIGN §3a; other code calls exactly this):

- ``preset(name) -> Preset`` looks a preset up (``ValueError`` naming the known ones);
  ``PRESETS`` maps every name to its preset.
- A ``Preset`` has ``name`` ("claude"), ``program`` (the executable looked up on PATH),
  ``secret`` (its usual API-key variable) and ``install`` (a shell-free install command
  for docs and workflows), and two methods:
  ``invocation(AgentRun) -> Invocation`` builds one attempt's command, and
  ``usage(stdout) -> dict`` reads what the agent spent (any of ``cost_usd``,
  ``input_tokens``, ``output_tokens``; ``{}`` when its output says nothing; never raises).
- ``AgentRun`` is what the runner knows for one attempt: ``prompt_text``, ``prompt_path``
  (outside the checkout), ``checkout`` (the working directory), ``model``, ``max_turns``,
  ``budget_usd`` (what is *left* of the component's budget), ``files`` (the files the
  component may change) and ``read_files`` (its design, to read).
- ``Invocation`` is ``argv``, ``stdin`` (text fed on standard input, or None) and
  ``env`` (variables added to the coder's environment).
- Optionally a preset has ``scratch_files``: patterns of files its agent keeps in the
  checkout for itself, which ccs never commits.

A preset runs its CLI headless, lets it edit files and run the tests without asking,
and never lets it commit. Adding an agent is one module with a ``PRESET`` and one line
below.
"""

from __future__ import annotations

from action.agents import aider, claude, codex, gemini, openhands
from action.agents.base import AgentRun, Invocation, Preset

PRESETS: dict[str, Preset] = {
    claude.PRESET.name: claude.PRESET,
    codex.PRESET.name: codex.PRESET,
    gemini.PRESET.name: gemini.PRESET,
    aider.PRESET.name: aider.PRESET,
    openhands.PRESET.name: openhands.PRESET,
}

__all__ = ["PRESETS", "AgentRun", "Invocation", "Preset", "preset"]


def preset(name: str) -> Preset:
    """Return the preset called `name`, or raise ValueError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown agent {name!r}: use one of {known}") from None
