"""Plots of recorded comparisons: cost against N, or bars when every row has one N.

    python bench/_plot.py NAME [YLABEL]     # redraw results/NAME.png from results/NAME.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Comparison, Run, spread

SIDES = (("subject", "ccs", "o-"), ("baseline", "baseline", "s--"))


def plot(name: str, title: str, comparisons: list[Comparison], ylabel: str,
         scale: float = 1.0) -> Path:
    """Draw results/<name>.png: median cost with min-max bars, ccs and baseline."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a build machine
    from matplotlib import pyplot

    RESULTS.mkdir(parents=True, exist_ok=True)
    figure, axes = pyplot.subplots(figsize=(7.5, 4.5))
    if len({c.n for c in comparisons}) == 1:
        _bars(axes, comparisons, scale)
        axes.set_xlabel(f"N = {comparisons[0].n}")
    else:
        _lines(axes, comparisons, scale)
        axes.set_xscale("log")
        axes.set_xlabel("N")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    path = RESULTS / f"{name}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def _median_and_errors(rows: list[Comparison], side: str,
                       scale: float) -> tuple[list[float], list[list[float]]]:
    stats = [spread(c.values(side)) for c in rows]
    medians = [x["median"] * scale for x in stats]
    errors = [[m - x["min"] * scale for m, x in zip(medians, stats, strict=True)],
              [x["max"] * scale - m for m, x in zip(medians, stats, strict=True)]]
    return medians, errors


def _lines(axes: object, comparisons: list[Comparison], scale: float) -> None:
    labels = list(dict.fromkeys(c.label for c in comparisons))
    for label in labels:
        rows = sorted((c for c in comparisons if c.label == label), key=lambda c: c.n)
        for side, name, marker in SIDES:
            medians, errors = _median_and_errors(rows, side, scale)
            axes.errorbar([c.n for c in rows], medians, yerr=errors, fmt=marker, capsize=3,
                          label=f"{label}: {name}" if len(labels) > 1 else name)


def _bars(axes: object, comparisons: list[Comparison], scale: float) -> None:
    positions = range(len(comparisons))
    for offset, (side, name, _) in zip((-0.2, 0.2), SIDES, strict=True):
        medians, errors = _median_and_errors(comparisons, side, scale)
        axes.bar([p + offset for p in positions], medians, width=0.4, yerr=errors,
                 capsize=3, label=name)
    axes.set_xticks(list(positions), [c.label for c in comparisons], rotation=15)


def comparisons_from(data: dict) -> list[Comparison]:
    """Rebuild the comparisons recorded in a results JSON."""
    def runs(rows: list[dict]) -> list[Run]:
        return [Run(r["figures"], r["load_before"], r["load_after"]) for r in rows]
    return [Comparison(c["label"], c["n"], c["metric"], runs(c["subject_runs"]),
                       runs(c["baseline_runs"])) for c in data["comparisons"]]


def main(argv: list[str]) -> int:
    """Redraw one benchmark's plot from its recorded JSON."""
    if not argv:
        raise SystemExit("usage: python bench/_plot.py NAME [YLABEL] (NAME of results/NAME.json)")
    source = RESULTS / f"{argv[0]}.json"
    if not source.exists():
        raise SystemExit(f"{source} does not exist: run bench/{argv[0]}.py first")
    data = json.loads(source.read_text())
    title = (RESULTS / f"{argv[0]}.md").read_text().splitlines()[0].removeprefix("# ")
    print(plot(argv[0], title, comparisons_from(data), argv[1] if len(argv) > 1 else "cost"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
