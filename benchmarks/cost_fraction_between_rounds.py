"""Is goal 1's cost fraction missed only because rounds are coarse? (issue 24)

The bench reads a run's cost to reach the baseline's final accuracy off its step curve:
the cost of the first round at or above it. A round costs about a sixth of the budget,
so the figure moves in steps of about 0.16. This script reads the same runs' curves as
if accuracy rose in a straight line between rounds (from the student's accuracy before
any teacher money, at cost 0), which is what rounds far finer than the bench's would
measure if learning were smooth: where this estimate also misses, finer rounds alone
would not close the goal.

It also asks whether a larger test set would close it. Each accuracy is a test of n
questions, so it carries binomial noise, and a fraction read off noisy curves can be
biased either way (a lucky baseline final is a higher bar; a lucky round is an earlier
crossing). The script redraws every accuracy as a test of the same n would score it
(binomial, at the measured accuracy), adding as much noise again, and reads the
fraction the bench's way: if the added noise moves the mean by d, a test set with
much less noise would move it by about -d.

    PYTHONPATH=src python benchmarks/cost_fraction_between_rounds.py GRID/warm/bench.json
"""

from __future__ import annotations

import argparse
import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from elad.reading.bench_numbers import interval
from elad.reading.bench_summary import with_interval
from elad.reading.curves import TOLERANCE, cost_to_reach

BASELINE = ("random", "annotate")


def crossing(costs: list[float], accuracies: list[float], start: float, target: float
             ) -> float | None:
    """The cost at which the straight lines between the rounds' points (from `start`
    accuracy at cost 0) first reach `target`; None if no round reaches it."""
    points = [(0.0, start), *zip(costs, accuracies)]
    for (c0, a0), (c1, a1) in pairwise(points):
        if a1 >= target - TOLERANCE:
            if a0 >= target - TOLERANCE:
                return c0
            return c0 + (target - a0) / (a1 - a0) * (c1 - c0)
    return None


def fractions(runs: list[dict], strategy: str, mode: str) -> tuple[list, list]:
    """Per seed: the bench's step fraction and the straight-line one, against BASELINE;
    as the bench, none for a seed whose baseline ended no higher than its seed round."""
    by = {(r["strategy"], r["mode"], r["seed"]): r for r in runs}
    steps, lines = [], []
    for seed in sorted({r["seed"] for r in runs}):
        run, base = by.get((strategy, mode, seed)), by.get((*BASELINE, seed))
        if not run or not base or base["final_accuracy"] <= base["accuracies"][0]:
            continue  # a baseline that did not rise: nothing to reach (bench_numbers.rose)
        target, spent = base["final_accuracy"], base["cost_usd"]
        step = cost_to_reach(run["costs"], run["accuracies"], target)
        line = crossing(run["costs"], run["accuracies"], run["accuracy_before"] or 0.0,
                        target)
        steps.append(None if step is None else step / spent)
        lines.append(None if line is None else line / spent)
    return steps, lines


def with_test_noise(runs: list[dict], strategy: str, mode: str, n_test: int,
                    draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The bench's mean fraction and the mean number of seeds reaching the baseline's
    final, over `draws` redraws of every accuracy as a test of `n_test` questions."""
    rng = np.random.default_rng(seed)
    noisy = [{**r, "accuracies": list(rng.binomial(n_test, r["accuracies"],
                                                   (draws, len(r["accuracies"])))
                                      / n_test)}
             for r in runs]
    means, reached = [], []
    for d in range(draws):
        drawn = [{**r, "accuracies": list(r["accuracies"][d]),
                  "final_accuracy": r["accuracies"][d][-1]} for r in noisy]
        steps, _ = fractions(drawn, strategy, mode)
        got = [s for s in steps if s is not None]
        means.append(np.mean(got) if got else np.nan)
        reached.append(len(got))
    return float(np.nanmean(means)), float(np.mean(reached))


def shown(values: list) -> str:
    """'mean [95% interval], n of m (per seed)', as the bench summary writes a figure."""
    entry = interval(values)
    per_seed = ", ".join("never" if v is None else f"{v:.2f}" for v in values)
    seeds = "" if entry["low"] is None else f", {entry['n']} of {entry['of']}"  # else said
    return f"{with_interval(entry, 1, '.2f')}{seeds} ({per_seed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json", type=Path, help="a regime's bench.json")
    bench = json.loads(parser.parse_args().bench_json.read_text())
    runs, n_test = bench["runs"], bench.get("config", {}).get("task", {}).get("test_size")
    for strategy, mode in dict.fromkeys((r["strategy"], r["mode"]) for r in runs):
        if (strategy, mode) == BASELINE:
            continue
        steps, lines = fractions(runs, strategy, mode)
        print(f"{strategy}/{mode}: cost to reach {'/'.join(BASELINE)}'s final accuracy, "
              "as a fraction of its cost")
        print(f"  first round at or above it (the bench's): {shown(steps)}")
        print(f"  straight lines between rounds:            {shown(lines)}")
        if n_test:
            mean, reached = with_test_noise(runs, strategy, mode, n_test)
            print(f"  with as much test noise again (n={n_test}): {mean:.3f} mean, "
                  f"{reached:.1f} seeds reach it on average ({len(steps)} compared as "
                  f"measured); as measured: {interval(steps)['mean']:.3f}")


if __name__ == "__main__":
    main()
