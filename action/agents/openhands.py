"""OpenHands CLI (`openhands`) run headless."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from action.agents.base import AgentRun, Invocation, count, dollars, json_values, usage_of


@dataclass(frozen=True)
class OpenHands:
    """The `openhands` CLI (PyPI openhands); it needs LLM_API_KEY and LLM_MODEL set.

    Without settings of its own (a CI runner has none) headless openhands exits 0 having
    done nothing ("Headless mode requires existing settings"), so it always takes its LLM
    from the environment; `coder.model` sets LLM_MODEL.
    """

    name: str = "openhands"
    program: str = "openhands"
    secret: str = "LLM_API_KEY"  # noqa: S105 - a variable name, not a value
    install: str = "python -m pip install openhands==1.16.0"

    def invocation(self, run: AgentRun) -> Invocation:
        """Return `openhands --headless -f PROMPT --json`, the model given by LLM_MODEL."""
        # Headless docs: "openhands --headless -f task.txt" ("Load task from a file");
        # "Headless mode always runs in always-approve mode."
        argv = ["openhands", "--headless", "-f", run.prompt_path,
                # `openhands --help` (1.16.0): "--json  Enable JSON output mode for
                # headless operation. Streams JSONL event outputs to terminal."
                "--json",
                # "--override-with-envs  Override LLM settings with environment variables
                # (LLM_API_KEY, LLM_BASE_URL, LLM_MODEL). By default, environment
                # variables are ignored."
                "--override-with-envs"]
        env = {"LLM_MODEL": run.model} if run.model else {}
        # openhands takes no turn or spending cap on its command line.
        return Invocation(tuple(argv), env=env)

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Read the last `accumulated_cost` / `accumulated_token_usage` in the events."""
        cost: float | None = None
        tokens: dict[str, Any] = {}
        for value in json_values(stdout):
            for metrics in _metrics(value):
                if "accumulated_cost" in metrics:
                    cost = dollars(metrics["accumulated_cost"])
                if isinstance(metrics.get("accumulated_token_usage"), dict):
                    tokens = metrics["accumulated_token_usage"]
        return usage_of(cost, count(tokens.get("prompt_tokens")),
                        count(tokens.get("completion_tokens")))


def _metrics(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Yield every object holding accumulated metrics, however deep an event nests it."""
    if depth > 8:
        return
    if isinstance(value, dict):
        if "accumulated_cost" in value or "accumulated_token_usage" in value:
            yield value
        for child in value.values():
            yield from _metrics(child, depth + 1)
    elif isinstance(value, list):
        for child in value:
            yield from _metrics(child, depth + 1)


PRESET = OpenHands()
