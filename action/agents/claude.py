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
DISALLOWED_TOOLS = "Bash(git commit *),Bash(git push *)"


@dataclass(frozen=True)
class Claude:
    """The `claude` CLI (npm @anthropic-ai/claude-code)."""

    name: str = "claude"
    program: str = "claude"
    secret: str = "ANTHROPIC_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "npm install -g @anthropic-ai/claude-code@2.1.332"

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `claude -p` with the prompt on stdin and edits allowed."""
        # `claude --help` (2.1.332): "-p, --print  Print response and exit (useful for
        # pipes)". agents.md: "`-p` with the prompt on stdin (stdin that is not a TTY is
        # read to its end)" -- stdin keeps the prompt clear of --allowedTools, which
        # takes several values and would swallow a prompt placed after it.
        argv = ["claude", "-p",
                # "--output-format <format>  Output format (only works with --print):
                # "text" (default), "json" (single result), or "stream-json""
                "--output-format", "json",
                # "--permission-mode <mode>  Permission mode to use for the session
                # (choices: "acceptEdits", ...)": edits without asking. bypassPermissions
                # is refused when run as root, as CI runs it.
                "--permission-mode", "acceptEdits",
                # "--allowedTools <tools...>  Comma or space-separated list of tool names
                # to allow (e.g. "Bash(git *) Edit")": Bash runs the test command.
                "--allowedTools", ALLOWED_TOOLS,
                # "--disallowedTools <tools...>  Comma or space-separated list of tool
                # names to deny"
                "--disallowedTools", DISALLOWED_TOOLS]
        if run.model:
            # "--model <model>  Model for the current session."
            argv += ["--model", run.model]
        if run.max_turns is not None:
            # agents.md: "`--max-turns` (accepted, not in `--help`)"; the docs: "Claude
            # Code offers the same limit as --max-turns in print mode, unlimited by default"
            argv += ["--max-turns", str(run.max_turns)]
        if run.budget_usd is not None:
            # "--max-budget-usd <amount>  Maximum dollar amount to spend on API calls (only
            # works with --print)": what is left of the component's budget_usd.
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
