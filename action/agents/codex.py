"""OpenAI Codex CLI (`codex exec`) run non-interactively."""

from __future__ import annotations

from dataclasses import dataclass

from action.agents.base import AgentRun, Invocation, count, json_objects, usage_of


@dataclass(frozen=True)
class Codex:
    """The `codex` CLI (npm @openai/codex)."""

    name: str = "codex"
    program: str = "codex"
    secret: str = "OPENAI_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "npm install -g @openai/codex@0.171.0"

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `codex exec` in a workspace-write sandbox, the prompt on stdin."""
        # `codex exec --help` (0.171.0): "Run Codex non-interactively"; "--json  Print
        # events to stdout as JSONL" (thread.started, turn.*, item.*; turn.completed
        # carries the usage).
        argv = ["codex", "exec", "--json",
                # Non-interactive docs: "Allow edits: codex exec --sandbox workspace-write
                # "<task>"" (the default sandbox is read-only); agents.md: `--full-auto` is
                # rejected by 0.171 ("unexpected argument '--full-auto' found").
                "-s", "workspace-write",
                # "--skip-git-repo-check  Allow running Codex outside a Git repository":
                # the checkout is one, but that check must never stop an unattended run.
                "--skip-git-repo-check"]
        if run.model:
            # "-m, --model <MODEL>  Model the agent should use"
            argv += ["-m", run.model]
        # codex takes no turn or spending cap; ccs's attempts and budget_usd bound it.
        # "[PROMPT]  Initial instructions for the agent. If not provided as an argument (or
        # if `-` is used), instructions are read from stdin."
        argv.append("-")
        return Invocation(tuple(argv), stdin=run.prompt_text)

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Sum the `usage` of every `turn.completed` event (tokens; codex prints no cost)."""
        turns = [item.get("usage") for item in json_objects(stdout)
                 if item.get("type") == "turn.completed"]
        turns = [usage for usage in turns if isinstance(usage, dict)]
        # OpenAI counts cached_input_tokens inside input_tokens, so it is not added again.
        return usage_of(None, sum(count(usage.get("input_tokens")) for usage in turns),
                        sum(count(usage.get("output_tokens")) for usage in turns))


PRESET = Codex()
