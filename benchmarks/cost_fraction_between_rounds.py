"""Is goal 1's cost fraction missed only because rounds are coarse? (issue 24)

The bench reads a run's cost to reach the baseline's final accuracy off its step curve:
the cost of the first round at or above it. A round costs about a sixth of the budget,
so the figure moves in steps of about 0.16. This script reads the same runs' curves as
if accuracy rose in a straight line between rounds (from the student's accuracy before
any teacher money, at cost 0), which is what rounds far finer than the bench's would
measure if learning were smooth: where this estimate also misses, finer rounds alone
would not close the goal.

    PYTHONPATH=src python benchmarks/cost_fraction_between_rounds.py GRID/warm/bench.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elad.reading.bench_numbers import interval
from elad.reading.bench_summary import with_interval
from elad.reading.curves import TOLERANCE, cost_to_reach

BASELINE = ("random", "annotate")


def crossing(costs: list[float], accuracies: list[float], start: float, target: float
             ) -> float | None:
    """The cost at which the straight lines between the rounds' points (from `start`
    accuracy at cost 0) first reach `target`; None if no round reaches it."""
    points = [(0.0, start), *zip(costs, accuracies)]
    for (c0, a0), (c1, a1) in zip(points, points[1:]):
        if a1 >= target - TOLERANCE:
            if a0 >= target - TOLERANCE:
                return c0
            return c0 + (target - a0) / (a1 - a0) * (c1 - c0)
    return None


def fractions(runs: list[dict], strategy: str, mode: str) -> tuple[list, list]:
    """Per seed: the bench's step fraction and the straight-line one, against BASELINE."""
    by = {(r["strategy"], r["mode"], r["seed"]): r for r in runs}
    steps, lines = [], []
    for seed in sorted({r["seed"] for r in runs}):
        run, base = by.get((strategy, mode, seed)), by.get((*BASELINE, seed))
        if not run or not base:
            continue
        target, spent = base["final_accuracy"], base["cost_usd"]
        step = cost_to_reach(run["costs"], run["accuracies"], target)
        line = crossing(run["costs"], run["accuracies"], run["accuracy_before"] or 0.0,
                        target)
        steps.append(None if step is None else step / spent)
        lines.append(None if line is None else line / spent)
    return steps, lines


def shown(values: list) -> str:
    """'mean [95% interval], n of m (per seed)', as the bench summary writes a figure."""
    entry = interval(values)
    per_seed = ", ".join("never" if v is None else f"{v:.2f}" for v in values)
    seeds = "" if entry["low"] is None else f", {entry['n']} of {entry['of']}"  # else said
    return f"{with_interval(entry, 1, '.2f')}{seeds} ({per_seed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json", type=Path, help="a regime's bench.json")
    runs = json.loads(parser.parse_args().bench_json.read_text())["runs"]
    for strategy, mode in dict.fromkeys((r["strategy"], r["mode"]) for r in runs):
        if (strategy, mode) == BASELINE:
            continue
        steps, lines = fractions(runs, strategy, mode)
        print(f"{strategy}/{mode}: cost to reach {'/'.join(BASELINE)}'s final accuracy, "
              "as a fraction of its cost")
        print(f"  first round at or above it (the bench's): {shown(steps)}")
        print(f"  straight lines between rounds:            {shown(lines)}")


if __name__ == "__main__":
    main()
