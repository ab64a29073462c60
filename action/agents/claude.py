"""Claude Code (`claude`) run headless in print mode."""

from __future__ import annotations

from dataclasses import dataclass

from action.agents.base import (
    AgentRun,
    Invocation,
    cap_text,
    count,
    dollars,
    json_objects,
    usage_of,
)

# The tools an attempt needs: read and edit files, and run the test command in a shell.
ALLOWED_TOOLS = "Bash,Read,Edit,Write,Glob,Grep"
# ccs commits the work itself; an agent commit or push would bypass the scope guard.
DISALLOWED_TOOLS = "Bash(git commit:*),Bash(git push:*)"


@dataclass(frozen=True)
class Claude:
    """The `claude` CLI (npm @anthropic-ai/claude-code)."""

    name: str = "claude"
    program: str = "claude"
    secret: str = "ANTHROPIC_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "npm install -g @anthropic-ai/claude-code@2.1.197"

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `claude -p` with the prompt on stdin and edits allowed."""
        # Headless docs: "Use the --print (or -p) flag to run in non-interactive mode and
        # print the final result". agents.md (2.1.197): "`-p` with the prompt on stdin
        # (stdin that is not a TTY is read to its end)" -- stdin keeps the prompt clear
        # of --allowedTools, which takes several values and would swallow it.
        argv = ["claude", "-p",
                # "--output-format | Specify output format (text, json, stream-json)":
                # json prints one result object with total_cost_usd and usage.
                "--output-format", "json",
                # "Accept edits | --permission-mode acceptEdits | Auto-accept file changes";
                # bypassPermissions is refused as root, as CI runs it.
                "--permission-mode", "acceptEdits",
                # "--allowedTools | ... String with comma-separated list of allowed
                # tools ... claude --allowedTools "Bash(npm install),mcp__filesystem""
                "--allowedTools", ALLOWED_TOOLS,
                # "claude --disallowedTools "Bash(git commit),mcp__github""
                "--disallowedTools", DISALLOWED_TOOLS]
        if run.model:
            # agents.md, flags seen on 2.1.197: "`--model`, `--max-turns` (accepted, not in
            # `--help`), `--max-budget-usd`".
            argv += ["--model", run.model]
        if run.max_turns is not None:
            # "Claude Code offers the same limit as --max-turns in print mode, unlimited by
            # default, and it pairs well with a spend cap like --max-budget-usd."
            argv += ["--max-turns", str(run.max_turns)]
        if run.budget_usd is not None:
            # Over the cap the result's subtype is `error_max_budget_usd` (agents.md); the
            # cap is what is left of the component's budget_usd.
            argv += ["--max-budget-usd", cap_text(run.budget_usd)]
        return Invocation(tuple(argv), stdin=run.prompt_text)

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Read `total_cost_usd` and `usage` from the result object."""
        results = [item for item in json_objects(stdout) if item.get("type") == "result"]
        if not results:
            return {}
        result = results[-1]
        tokens = result.get("usage")
        tokens = tokens if isinstance(tokens, dict) else {}
        # Cache reads and writes are input the model was billed for, so they count as input.
        input_tokens = sum(count(tokens.get(key)) for key in (
            "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        return usage_of(dollars(result.get("total_cost_usd")), input_tokens,
                        count(tokens.get("output_tokens")))


PRESET = Claude()
