"""Google Gemini CLI (`gemini`) run headless."""

from __future__ import annotations

from dataclasses import dataclass

from action.agents.base import AgentRun, Invocation, count, json_objects, usage_of

# Linux caps one argument at 128 KiB (MAX_ARG_STRLEN); a longer prompt goes on stdin.
MAX_PROMPT_ARG_BYTES = 100_000
STDIN_DIRECTIVE = "Carry out the task described in the text above."


@dataclass(frozen=True)
class Gemini:
    """The `gemini` CLI (npm @google/gemini-cli)."""

    name: str = "gemini"
    program: str = "gemini"
    secret: str = "GEMINI_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "npm install -g @google/gemini-cli@0.61.0"

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `gemini -p PROMPT` with JSON output and every tool approved."""
        stdin = None
        prompt = run.prompt_text
        if len(prompt.encode("utf-8")) > MAX_PROMPT_ARG_BYTES:
            # "-p, --prompt  Run in non-interactive (headless) mode with the given prompt.
            # Appended to input on stdin (if any)."
            stdin, prompt = run.prompt_text, STDIN_DIRECTIVE
        argv = ["gemini", "-p", prompt,
                # `gemini --help` (0.61.0): "-o, --output-format  The format of the CLI
                # output. [choices: "text", "json", "stream-json"]"; headless docs: json
                # "Returns a single JSON object containing the response and usage
                # statistics".
                "--output-format", "json",
                # "--approval-mode  Set the approval mode: default (prompt for approval),
                # auto_edit (auto-approve edit tools), yolo (auto-approve all tools)".
                # auto_edit would leave the shell -- the test command -- waiting for a
                # confirmation nobody gives ("shell commands still require confirmation",
                # concepts docs), so yolo. `--yolo` with `--approval-mode` is an error.
                "--approval-mode", "yolo",
                # "--skip-trust  Trust the current workspace for this session." Without it
                # an untrusted folder overrides the approval mode back to "default".
                "--skip-trust"]
        if run.model:
            # "-m, --model  Model  [string]"
            argv += ["-m", run.model]
        # gemini takes no turn or spending cap on its command line.
        return Invocation(tuple(argv), stdin=stdin)

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Sum the per-model token counts in `stats` (gemini prints no cost)."""
        stats = [item.get("stats") for item in json_objects(stdout)]
        stats = [value for value in stats if isinstance(value, dict)]
        if not stats:
            return {}
        models = stats[-1].get("models")
        if not isinstance(models, dict):
            # Older releases printed flat totals.
            return usage_of(None, count(stats[-1].get("inputTokens")),
                            count(stats[-1].get("outputTokens")))
        tokens = [model.get("tokens") for model in models.values() if isinstance(model, dict)]
        tokens = [value for value in tokens if isinstance(value, dict)]
        # `prompt` already includes the cached tokens; thoughts are billed as output.
        return usage_of(None, sum(count(t.get("prompt")) for t in tokens),
                        sum(count(t.get("candidates")) + count(t.get("thoughts"))
                            for t in tokens))


PRESET = Gemini()
