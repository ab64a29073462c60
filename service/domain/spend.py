"""What agents spend (DESIGN §3a): usage per attempt, child and session, and budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_COST_USD = 1_000_000.0  # a reported cost beyond this is bad input, not a figure


@dataclass(frozen=True)
class Usage:
    """What an agent spent (DESIGN §3a); a field no agent reported counts as 0."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(round(self.cost_usd + other.cost_usd, 6),
                     self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens)

    @property
    def spent(self) -> bool:
        """Return True when anything was spent."""
        return bool(self.cost_usd or self.input_tokens or self.output_tokens)

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict."""
        return {"cost_usd": round(self.cost_usd, 6), "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens}

    def summary(self) -> str:
        """Return a short human summary such as '$0.37 · 5,100 in / 900 out tokens'."""
        return (f"${self.cost_usd:,.2f} · {self.input_tokens:,} in / "
                f"{self.output_tokens:,} out tokens")


def usage_of(child: Any) -> Usage:
    """Return what a stored child spent."""
    return Usage(getattr(child, "cost_usd", 0.0) or 0.0, getattr(child, "input_tokens", 0) or 0,
                 getattr(child, "output_tokens", 0) or 0)


def total_usage(children: list[Any]) -> Usage:
    """Return what some stored children spent together."""
    total = Usage()
    for child in children:
        total += usage_of(child)
    return total


@dataclass(frozen=True)
class Budget:
    """A session's budget (DESIGN §3a): the most it may spend, and for how long it may run."""

    cost_usd: float | None = None
    minutes: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON the API shows and the store keeps."""
        return {"cost_usd": self.cost_usd, "minutes": self.minutes}

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> Budget | None:
        """Return the budget kept as JSON, or None."""
        return cls(body.get("cost_usd"), body.get("minutes")) if body else None

    def exceeded(self, spent_usd: float, minutes_run: float) -> str | None:
        """Return a message naming the budget and the figures when it is passed, else None."""
        if self.cost_usd is not None and spent_usd > self.cost_usd:
            return (f"budget.cost_usd reached: the children spent ${spent_usd:,.2f} of "
                    f"${self.cost_usd:,.2f}")
        if self.minutes is not None and minutes_run > self.minutes:
            return (f"budget.minutes reached: the run took {minutes_run:,.1f} of "
                    f"{self.minutes:g} minutes")
        return None
