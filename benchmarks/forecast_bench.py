"""How well a run's forecast and the dollar stop rule did, replayed on an `elad bench`
grid's stored runs (no new runs, no torch; seconds per run).

    PYTHONPATH=src python benchmarks/forecast_bench.py GRID_DIR [--thresholds 0.05,0.1]
        [--json OUT]

GRID_DIR is one regime's grid of an `elad bench --out DIR` (DIR/warm, DIR/cold) made with a
budget large enough that the accuracy curve flattens; every grid run under GRID_DIR/runs (not the shared seed rounds
or the whole-pool references) is read. The forecasts are the ones the loop makes
(`elad.run_forecast.prefix_forecasts`: all rounds up to that one, n_test = the test set
size, the next round costing what the last one did, capped by the budget left).

1. Forecast error. For the forecast made after round r (r = 2, 3, 4): the mean absolute
   error, in accuracy points, against every later round's measured accuracy at that
   round's cost, the mean signed error, and how often the 90% band held it; and at twice
   the money spent at round r, against the accuracy the run measured there (linear
   between the two rounds around that cost: what a run with twice the money, whose last
   round would be cut by the budget, would reach about), for runs that got there. The
   issue's goal: the round 3 forecast within 3 points on average over >= 5 seeds. The
   noise floor is what a perfect forecast would score against one measurement of
   n_test questions (sqrt(2/pi) binomial standard errors).
2. The stop rule (`stop_gain_per_usd=X`) replayed at each threshold X: the share of runs
   it stops before their end, the money it saves against running to the end (the
   budget, or max_rounds), the accuracy given up (final accuracy minus the accuracy where
   it stops). Against the best stopping point in hindsight: for the same X, the round
   maximizing accuracy - X * cost (what the rule aims at: stop where one more dollar buys
   less than X) and the rule's regret in that measure (points); and, whatever X, the
   cheapest round within `--tolerance` (2 points) of the final accuracy: the most any
   rule could save giving up no more. Beside it, the saturation rule replayed at each
   `--saturations` theta (stop once the latest `saturation_window` verdicts show, with
   90% confidence, that the teacher confirms that share, as the run's rule judges it). The
   issue's goal: saves >= 30% giving up <= 2 points.
3. Where the round 3 forecast misses, by task. The same forecast fitted to each task's
   own test accuracy (its share of the test questions as n_test), against that task's
   accuracy at twice the spend; the per-task forecasts combined (weighted by their share
   of the test set) against the whole accuracy; and, for synthetic tasks, the step
   accuracy of the explanations the student sampled for the next round's candidates
   (the share of the solution's steps before the first wrong one, as the oracle teacher
   judges it: a finer measure than the answer, which is right only if every step is),
   forecast likewise against itself. If a
   skill's answer accuracy jumped only because it needs every step right, its step
   accuracy would rise gradually and be forecast well.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from elad.forecast import ForecastOptions, forecast
from elad.run_forecast import CONFIDENCE, next_round_usd, prefix_forecasts, stop_index
from elad.rundir import RunDir
from elad.stopping import confirmed_counts, surely_saturated
from elad.store import RunStore
from elad.tasks import synthetic
from elad.teacher.oracle import first_wrong_step

FORECAST_ROUNDS = (2, 3, 4)
GOAL_ROUND, GOAL_POINTS, GOAL_SEEDS = 3, 3.0, 5
GOAL_SAVED, GOAL_GIVEN_UP = 0.30, 2.0


def read_runs(grid_dir: Path) -> list[dict]:
    """Every grid run's records, test size, budget and forecast after each round, and
    whether it is finished (one still running counts for the forecast errors, not for
    the stop rule: its end is not known yet)."""
    runs = []
    for run_dir in sorted((grid_dir / "runs").iterdir()):
        if run_dir.name.startswith(("seed-round-", "whole-pool-")) or \
                run_dir.name.endswith(".partial") or not (run_dir / "run.sqlite").exists():
            continue
        with RunDir.open(run_dir) as run:
            records = run.store.rounds()
            test_tasks = Counter(e.task for e in run.store.examples("test"))
            n_test = sum(test_tasks.values())
            config = run.config
            counts = [confirmed_counts(run.store, r.round, config.saturation_window)
                      for r in records]  # what the saturation rule judges
            steps = step_accuracy(run.store, len(records)) \
                if config.task.kind == "synthetic" else {}
        if not records:
            continue
        finished = bool(records[-1].stop_reason)
        if not finished:
            print(f"{run_dir.name}: not finished ({len(records)} rounds): its forecast "
                  "errors count, the stop rule leaves it out")
        runs.append({"name": run_dir.name, "seed": config.seed, "finished": finished,
                     "config": f"{config.strategy}-{config.mode}", "n_test": n_test,
                     "budget_usd": config.budget_usd, "stop_reason": records[-1].stop_reason,
                     "costs": np.array([r.cost_usd for r in records]),
                     "accuracies": np.array([r.test_accuracy for r in records]),
                     "confirmed_counts": counts,
                     "test_tasks": test_tasks, "step_accuracy": steps,
                     "by_task": {task: np.array([r.test_accuracy_by_task.get(task, np.nan)
                                                 for r in records]) for task in test_tasks},
                     "forecasts": prefix_forecasts(records, n_test, config.budget_usd)})
    return runs


def step_accuracy(store: RunStore, n_records: int) -> dict[str, np.ndarray]:
    """Synthetic tasks: per task, the share of solution steps the student's sampled
    explanations got right before their first wrong one (the oracle teacher's judgment),
    by the round whose student wrote them (the candidates of round r + 1 are explained by
    round r's student; nan where none were)."""
    pool = {e.id: e for e in store.examples("pool")}
    shares = {task: np.full(n_records, np.nan) for task in synthetic.FAMILIES}
    for r in range(n_records):
        right: dict[str, list[float]] = {}
        for score in store.scores(r + 1):
            example = pool[score.example_id]
            solution, answer = synthetic.solve(example.question)
            for explanation in store.explanations(r + 1, example.id):
                wrong = first_wrong_step(explanation.steps, explanation.answer, solution, answer)
                steps_right = len(solution) if wrong is None else min(wrong - 1, len(solution))
                right.setdefault(example.task, []).append(steps_right / max(len(solution), 1))
        for task, shares_right in right.items():
            shares[task][r] = np.mean(shares_right)
    return {task: values for task, values in shares.items() if not np.isnan(values).all()}


def noise_floor(accuracy: float, n_test: int) -> float:
    """Expected |error| of a perfect forecast against one measurement (points)."""
    return 100 * math.sqrt(2 / math.pi) * math.sqrt(accuracy * (1 - accuracy) / n_test)


def forecast_errors(runs: list[dict], r: int) -> dict:
    """The forecast after round r against later rounds, and at twice the spend."""
    later, at_double = [], []
    for run in runs:
        f = run["forecasts"][r] if r < len(run["forecasts"]) else None
        if f is None:
            continue
        costs, accuracies = run["costs"], run["accuracies"]
        for cost, measured, estimate in zip(costs[r + 1:], accuracies[r + 1:],
                                            f.at(costs[r + 1:])):
            later.append((estimate, measured, run["n_test"]))
        double = 2 * f.spent_usd
        if double <= costs[-1]:
            measured = float(np.interp(double, costs, accuracies))
            at_double.append((f.predictions[-1].accuracy, measured, run["n_test"], run))
    return {"later": summary(later), "double": summary([e[:3] for e in at_double]),
            "double_seeds": sorted({e[3]["seed"] for e in at_double}),
            "double_runs": [e[3]["name"] for e in at_double]}


def summary(pairs: list[tuple]) -> dict:
    """MAE, mean signed error, band coverage (points) and the noise floor."""
    if not pairs:
        return {"n": 0}
    errors = np.array([100 * (e.value - m) for e, m, _ in pairs])
    return {"n": len(pairs), "mae": float(np.mean(np.abs(errors))),
            "bias": float(np.mean(errors)),
            "coverage": float(np.mean([e.low <= m <= e.high for e, m, _ in pairs])),
            "noise_floor": float(np.mean([noise_floor(m, n) for _, m, n in pairs]))}


def saturation_index(run: dict, theta: float) -> int | None:
    """The first round after which the saturation rule at theta would stop, or None (the
    rule's own test, stopping.surely_saturated, on at least `saturation_window`
    verdicts)."""
    return next((i for i, counts in enumerate(run["confirmed_counts"])
                 if surely_saturated(counts, theta)), None)


def stop_rule(runs: list[dict], threshold: float, tolerance: float,
              saturation: float | None = None) -> dict:
    """The rule at `threshold` replayed on every run, against hindsight; with
    `saturation`, the saturation rule at that theta instead (hindsight at threshold)."""
    rows = []
    for run in runs:
        costs, accuracies = run["costs"], run["accuracies"]
        end = len(costs) - 1
        found = stop_index(run["forecasts"], threshold) if saturation is None \
            else saturation_index(run, saturation)
        stop = end if found is None else found
        utility = accuracies - threshold * costs
        best = int(np.argmax(utility))
        enough = int(np.flatnonzero(accuracies >= accuracies[end] - tolerance / 100)[0])
        rows.append({
            "run": run["name"], "stop_round": stop, "early": stop < end,
            "saved": 1 - costs[stop] / costs[end],
            "given_up": 100 * (accuracies[end] - accuracies[stop]),
            "hindsight_round": best, "hindsight_saved": 1 - costs[best] / costs[end],
            "hindsight_given_up": 100 * (accuracies[end] - accuracies[best]),
            "regret": 100 * (utility[best] - utility[stop]),
            "within_tolerance_saved": 1 - costs[enough] / costs[end]})
    means = {key: float(np.mean([row[key] for row in rows]))
             for key in rows[0] if key not in ("run", "stop_round", "hindsight_round")}
    return {"threshold": threshold, "saturation": saturation, **means, "runs": rows}


def by_task_errors(runs: list[dict], r: int = GOAL_ROUND) -> dict:
    """Section 3: signed errors (points) of the round-r forecast at twice the spend, fitted
    to each task's test accuracy and step accuracy, and the per-task forecasts combined."""
    errors: dict[str, list[float]] = {}
    for run in runs:
        costs = run["costs"]
        if r >= len(costs) or costs[r] <= 0 or 2 * costs[r] > costs[-1]:
            continue
        double, next_cost = 2 * costs[r], next_round_usd(list(costs[:r + 1]), run["budget_usd"])
        n_test, combined = sum(run["test_tasks"].values()), 0.0
        for task, n in run["test_tasks"].items():
            test = forecast_at(costs, run["by_task"][task], r, next_cost, n, double)
            steps = forecast_at(costs, run["step_accuracy"].get(task), r, next_cost, n, double)
            for key, fit in ((f"test {task}", test), (f"steps {task}", steps)):
                if fit is not None:
                    errors.setdefault(key, []).append(100 * (fit[0] - fit[1]))
            combined += n / n_test * (test[0] if test else np.nan)
        measured = float(np.interp(double, costs, run["accuracies"]))
        errors.setdefault("combined", []).append(100 * (combined - measured))
    return {key: (float(np.mean(np.abs(v))), float(np.mean(v)), len(v))
            for key, v in errors.items() if not np.isnan(v).any()}


def forecast_at(costs, values, r: int, next_cost: float, n: int, at: float
                ) -> tuple[float, float] | None:
    """The forecast of a per-round series after round r at cost `at`, and the series
    there (linear between rounds); None without a forecast or a value there."""
    if values is None or np.isnan(values[:r + 1]).any():
        return None
    known = ~np.isnan(values)
    if costs[known][-1] < at:
        return None
    fit = forecast(costs[:r + 1], values[:r + 1], next_cost, n_test=n,
                   options=ForecastOptions(confidence=CONFIDENCE))
    return None if fit is None else (float(fit.curve(at)),
                                      float(np.interp(at, costs[known], values[known])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid_dir", type=Path, help="a regime's grid in an `elad bench "
                        "--out DIR` directory: DIR/warm or DIR/cold")
    parser.add_argument("--thresholds", default="0.02,0.05,0.1,0.2,0.5,1",
                        help="stop_gain_per_usd values to replay (accuracy per $)")
    parser.add_argument("--saturations", default="0.8,0.9",
                        help="saturation thetas to replay beside it (the teacher's "
                             "confirmed fraction; runs made with saturation=1.0 show them "
                             "all)")
    parser.add_argument("--tolerance", type=float, default=GOAL_GIVEN_UP,
                        help="points of final accuracy one may give up (hindsight)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not (args.grid_dir / "runs").is_dir():
        regimes = sorted(d.name for d in args.grid_dir.iterdir() if (d / "runs").is_dir()) \
            if args.grid_dir.is_dir() else []
        raise SystemExit(f"{args.grid_dir} holds no runs/ folder; give one regime's grid "
                         f"({', '.join(str(args.grid_dir / r) for r in regimes) or 'DIR/warm'})")
    runs = read_runs(args.grid_dir)
    if not runs:
        raise SystemExit(f"{args.grid_dir}/runs holds no grid run")
    seeds = sorted({r["seed"] for r in runs})
    ends = [str(r["stop_reason"]) if r["finished"] else "not finished yet" for r in runs]
    reasons = {end: ends.count(end) for end in sorted(set(ends))}
    print(f"{len(runs)} runs ({', '.join(sorted({r['config'] for r in runs}))}; seeds "
          f"{seeds}); rounds {min(len(r['costs']) for r in runs)}-"
          f"{max(len(r['costs']) for r in runs)}; spent ${min(r['costs'][-1] for r in runs):.3f}"
          f"-${max(r['costs'][-1] for r in runs):.3f}; ended by {reasons}")
    if "low forecast gain" in reasons:
        print("   warning: some runs were stopped by the rule itself; replaying other "
              "thresholds on them cannot see past where they stopped")

    print(f"\n1. Forecast error, accuracy points; cover: how often the {CONFIDENCE:.0%} "
          "band held the measured accuracy; floor: a perfect forecast's MAE")
    print(f"   {'':8}  {'against every later round':^30}  |  {'at 2x the spend':^30}")
    columns = f"{'n':>4}  {'MAE':>5}  {'bias':>6}  {'cover':>5}  {'floor':>5}"
    print(f"   {'forecast':8}  {columns}  |  {columns}")
    errors = {}
    for r in FORECAST_ROUNDS:
        e = errors[r] = forecast_errors(runs, r)
        cells = []
        for part in (e["later"], e["double"]):
            cells.append(f"{part['n']:4d}  {part['mae']:5.2f}  {part['bias']:+6.2f}  "
                         f"{part['coverage']:5.2f}  {part['noise_floor']:5.2f}"
                         if part["n"] else f"{0:4d}  {'-':>5}  {'-':>6}  {'-':>5}  {'-':>5}")
        print(f"   {f'round {r}':8}  {cells[0]}  |  {cells[1]}")
    goal = errors[GOAL_ROUND]["double"]
    n_seeds = len(errors[GOAL_ROUND]["double_seeds"])
    if goal["n"]:
        met = goal["mae"] <= GOAL_POINTS and n_seeds >= GOAL_SEEDS
        print(f"   goal: the round {GOAL_ROUND} forecast at 2x the spend within "
              f"{GOAL_POINTS:g} points on average over >= {GOAL_SEEDS} seeds: MAE "
              f"{goal['mae']:.2f} over {goal['n']} runs, {n_seeds} seeds: "
              f"{'met' if met else 'not met'}")
    else:
        print(f"   goal: no run reached twice its round {GOAL_ROUND} spend; use a larger "
              "budget or more rounds")

    print("\n2. The stop rule replayed: money saved (share of the run's spend) and "
          "accuracy given up (points), against running to the end; hindsight: the round "
          "maximizing accuracy - X * cost, and the rule's regret in that measure (points)")
    finished = [r for r in runs if r["finished"]]
    if len(finished) < len(runs):
        print(f"   on the {len(finished)} finished runs")
    print(f"   {'X acc/$':>7}  {'stops early':>11}  {'saved':>5}  {'given up':>8}  "
          f"{'meets':>5}  |  {'hindsight: saved':>16}  {'given up':>8}  {'regret':>6}")
    rules, saturations = [], []
    thresholds = [float(x) for x in args.thresholds.split(",") if x.strip()] if finished else []
    for threshold in thresholds:
        s = stop_rule(finished, threshold, args.tolerance)
        rules.append(s)
        met = s["saved"] >= GOAL_SAVED and s["given_up"] <= GOAL_GIVEN_UP
        print(f"   {threshold:7g}  {s['early']:11.2f}  {s['saved']:5.2f}  "
              f"{s['given_up']:8.2f}  {'yes' if met else 'no':>5}  |  "
              f"{s['hindsight_saved']:16.2f}  {s['hindsight_given_up']:8.2f}  "
              f"{s['regret']:6.2f}")
    for theta in [float(x) for x in args.saturations.split(",") if x.strip()] if finished else []:
        s = stop_rule(finished, 0.0, args.tolerance, saturation=theta)
        saturations.append(s)
        print(f"   {f'θ={theta:g}':>7}  {s['early']:11.2f}  {s['saved']:5.2f}  "
              f"{s['given_up']:8.2f}  {'':>5}  |  (the saturation rule at θ, for comparison)")
    print(f"   goal: saves >= {GOAL_SAVED:.0%} giving up <= {GOAL_GIVEN_UP:g} points "
          "(meets: per threshold, on the means)")
    print(f"   in hindsight, the cheapest round within {args.tolerance:g} points of the "
          f"final accuracy saves {rules[0]['within_tolerance_saved']:.2f} on average: the "
          "most any rule could save giving up no more" if rules else "")
    tasks = by_task_errors(runs)
    print(f"\n3. Where the round {GOAL_ROUND} forecast misses, by task: at 2x the spend, each "
          "series forecast against itself; MAE / bias, points (n runs)")
    for key, (mae, bias, n) in sorted(tasks.items()):
        label = "all: the per-task forecasts combined" if key == "combined" else \
            f"{'test accuracy' if key.startswith('test') else 'step accuracy'}, " \
            f"{key.split(' ', 1)[1]}"
        print(f"   {label:<40}  {mae:5.2f} / {bias:+6.2f}  ({n})")
    if args.json:
        args.json.write_text(json.dumps({
            "grid_dir": str(args.grid_dir), "runs": [r["name"] for r in runs],
            "seeds": seeds, "forecast_errors": {str(r): e for r, e in errors.items()},
            "stop_rule": rules, "saturation_rule": saturations,
            "by_task": {key: dict(zip(("mae", "bias", "n"), v)) for key, v in tasks.items()}},
            indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
