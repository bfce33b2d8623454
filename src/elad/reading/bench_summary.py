"""What an `elad bench` grid measured, computed from its runs' stores only (no torch):
the table it prints, DIR/bench.json, the PNG plots and DIR/index.html.

Per run, then per configuration (strategy x mode) as mean ± sample standard deviation
over the seeds:

- accuracy at cost c: the test accuracy after the last round whose cumulative teacher
  cost is at most c (what a user who stopped paying at c would have);
- area: the mean of that accuracy over costs from the seed round's cost to the budget
  (the normalized area under the accuracy-vs-cost curve; a run that stopped early keeps
  its last accuracy);
- accuracy at half the budget;
- cost to reach 90% and 100% of the whole-pool accuracy of the same seed (first round
  at or above it; "never" when no round got there);
- teacher output tokens per training target, over the rounds after the seed round (where
  the mode acts; the seed round is annotated in every mode) and over the whole run;
- the saturation round (the round whose confirmed fraction stopped the run);
- AUROC of the run's own strategy score for "the student's greedy answer is wrong", over
  the candidates of every scored round (the selection diagnostic).

And, to explain the figures: how often the selected questions' greedy answers were wrong
(against all candidates), the confirmed fraction, where the teacher found the first
error, how long the selected questions' explanations are, and their task families.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from scipy import stats

from elad.reading.html_page import Markup, image, link, page, table, tag
from elad.reading.plots import Series, bar_plot, line_plot
from elad.config import RunConfig
from elad.rundir import RunDir
from elad.strategies import auroc_by_strategy
from elad.tasks import hidden_answer

CURVE_POINTS = 101


# --- one run --------------------------------------------------------------------------

def accuracy_at(costs: list[float], accuracies: list[float], cost: float) -> float | None:
    """Accuracy after the last round costing at most `cost` (None before round 0)."""
    reached = [a for c, a in zip(costs, accuracies) if c <= cost + 1e-12]
    return reached[-1] if reached else None


def curve_area(costs: list[float], accuracies: list[float], budget: float) -> float | None:
    """Mean accuracy over costs from round 0's cost to `budget` (step curve)."""
    if not costs or budget <= costs[0]:
        return None
    edges = [*costs, max(budget, costs[-1])]
    area = sum(a * (min(edges[i + 1], budget) - min(c, budget))
               for i, (c, a) in enumerate(zip(costs, accuracies)))
    return area / (budget - costs[0])


def cost_to_reach(costs: list[float], accuracies: list[float], target: float
                  ) -> float | None:
    return next((c for c, a in zip(costs, accuracies) if a >= target - 1e-12), None)


def run_metrics(run_dir: Path, kind: str) -> dict:
    """Everything the summary needs from one run directory's store."""
    with RunDir.open(run_dir) as run:
        config, store = run.config, run.store
        records = store.rounds()
        calls = store.teacher_calls()
        targets = store.targets()
        pool = {e.id: e for e in store.examples("pool")}
        scored = {r: store.scores(r) for r in store.scored_rounds()}
        selections = {r.round: store.selection(r.round) or [] for r in records}
    costs = [r.cost_usd for r in records]
    accuracies = [r.test_accuracy for r in records]
    budget = config.budget_usd
    seed_round = [t for t in targets if t.round == 0]
    later_calls = [c for c in calls if c["round"] > 0]
    later_targets = [t for t in targets if t.round > 0]
    metrics = {
        "name": Path(run_dir).name, "kind": kind, "strategy": config.strategy,
        "mode": config.mode, "seed": config.seed, "budget_usd": budget,
        "costs": costs, "accuracies": accuracies,
        "confirmed": [r.confirmed_fraction for r in records],
        "stop_reason": records[-1].stop_reason if records else "",
        "cost_usd": costs[-1] if costs else None,
        "final_accuracy": accuracies[-1] if accuracies else None,
        "seed_round_cost_usd": costs[0] if costs else None,
        "area": curve_area(costs, accuracies, budget),
        "accuracy_at_half_budget": accuracy_at(costs, accuracies, budget / 2),
        "targets": len(targets),
        "output_tokens_per_target": _ratio(sum(c["output_tokens"] for c in calls),
                                           len(targets)),
        "output_tokens_per_target_after_seed": _ratio(
            sum(c["output_tokens"] for c in later_calls), len(later_targets)),
        "input_tokens_per_target_after_seed": _ratio(
            sum(c["input_tokens"] for c in later_calls), len(later_targets)),
        "cost_per_target_after_seed": _ratio(sum(c["cost_usd"] for c in later_calls),
                                             len(later_targets)),
        "saturation_round": next((r.round for r in records
                                  if r.stop_reason == "saturated"), None),
    }
    metrics.update(selection_evidence(config, scored, selections, pool, calls, targets,
                                      seed_round))
    return metrics


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def selection_evidence(config: RunConfig, scored: dict, selections: dict, pool: dict,
                       calls: list[dict], targets: list, seed_round: list) -> dict:
    """What the selected questions look like and what the teacher found in them."""
    hidden = {}
    aurocs, selected_wrong, candidates_wrong = [], [], []
    for round, scores in scored.items():
        for s in scores:
            hidden[s.example_id] = hidden_answer(pool[s.example_id], config.task)
        value = auroc_by_strategy(scores, hidden, config.seed)[config.strategy]
        if value is not None:
            aurocs.append(value)
        chosen = set(selections.get(round, []))
        for s in scores:
            wrong = s.greedy_answer != hidden[s.example_id]
            candidates_wrong.append(wrong)
            if s.example_id in chosen:
                selected_wrong.append(wrong)
    revisions = [c for c in calls if c["op"] == "revise" and c["ok"]]
    errors = [c for c in revisions if c["reply"]["first_error"] is not None]
    lines = [len(c["request"]["steps"]) + 1 for c in errors]  # the answer line is last
    firsts = [c["reply"]["first_error"] for c in errors]
    later = [t for t in targets if t.round > 0]
    families = Counter(pool[t.example_id].task for t in later if t.example_id in pool)
    return {
        "auroc": statistics.mean(aurocs) if aurocs else None,
        "selected_wrong": _mean(selected_wrong),
        "candidates_wrong": _mean(candidates_wrong),
        "confirmed_overall": _ratio(len(revisions) - len(errors), len(revisions)),
        "first_error_step": _mean(firsts),
        "first_error_relative": _mean([f / n for f, n in zip(firsts, lines)]),
        "first_error_at_step_1": _mean([f == 1 for f in firsts]),
        "first_error_at_answer_line": _mean([f == n for f, n in zip(firsts, lines)]),
        "steps_kept_per_revision": _mean([f - 1 for f in firsts]),
        "target_steps_selected": _mean([len(t.steps) for t in later]),
        "target_steps_seed_round": _mean([len(t.steps) for t in seed_round]),
        "selected_families": {k: v / sum(families.values()) for k, v in
                              sorted(families.items())},
    }


def _mean(values: list) -> float | None:
    return statistics.mean(values) if values else None


# --- over seeds -----------------------------------------------------------------------

def spread(values: list[float | None]) -> dict:
    """Mean and sample standard deviation of the values that exist; `n` of them."""
    known = [v for v in values if v is not None]
    return {"mean": statistics.mean(known) if known else None,
            "std": statistics.stdev(known) if len(known) > 1 else 0.0 if known else None,
            "n": len(known), "of": len(values), "values": values}


SCALARS = ("area", "accuracy_at_half_budget", "final_accuracy", "cost_usd",
           "output_tokens_per_target", "output_tokens_per_target_after_seed",
           "input_tokens_per_target_after_seed", "cost_per_target_after_seed",
           "saturation_round", "auroc", "selected_wrong", "candidates_wrong",
           "confirmed_overall", "first_error_step", "first_error_relative",
           "first_error_at_step_1", "first_error_at_answer_line",
           "steps_kept_per_revision", "target_steps_selected", "target_steps_seed_round")


def summarize(runs: list[dict]) -> dict:
    """Per configuration, mean ± spread over seeds; the whole-pool reference; the
    comparisons the benchmark is for."""
    grid = [r for r in runs if r["kind"] == "grid"]
    reference = {r["seed"]: r for r in runs if r["kind"] == "whole-pool"}
    for r in grid:
        ref = reference.get(r["seed"])
        for share in (0.9, 1.0):
            key = f"cost_to_{round(share * 100)}pct_whole_pool"
            r[key] = (cost_to_reach(r["costs"], r["accuracies"], share * ref["final_accuracy"])
                      if ref else None)
            r[key + "_fraction"] = (r[key] / ref["cost_usd"] if r[key] is not None
                                    else None)
        r["final_accuracy_of_whole_pool"] = (r["final_accuracy"] / ref["final_accuracy"]
                                             if ref and ref["final_accuracy"] else None)
    labels = list(dict.fromkeys((r["strategy"], r["mode"]) for r in grid))
    budget = max((r["budget_usd"] for r in grid), default=0.0)
    configurations = []
    for strategy, mode in labels:
        members = [r for r in grid if (r["strategy"], r["mode"]) == (strategy, mode)]
        keys = [*SCALARS, "final_accuracy_of_whole_pool",
                *(k for k in members[0] if k.startswith("cost_to_"))]
        configurations.append({
            "label": f"{strategy}/{mode}", "strategy": strategy, "mode": mode,
            "seeds": [r["seed"] for r in members],
            **{key: spread([r[key] for r in members]) for key in keys},
            "curve": mean_curve(members, budget),
            "selected_families": _mean_dicts([r["selected_families"] for r in members]),
        })
    refs = list(reference.values())
    whole_pool = ({"accuracy": spread([r["final_accuracy"] for r in refs]),
                   "cost_usd": spread([r["cost_usd"] for r in refs]),
                   "targets": spread([r["targets"] for r in refs]),
                   "output_tokens_per_target": spread(
                       [r["output_tokens_per_target"] for r in refs])} if refs else None)
    return {"budget_usd": budget, "configurations": configurations,
            "whole_pool": whole_pool, "comparisons": comparisons(grid),
            "runs": runs}


def mean_curve(members: list[dict], budget: float) -> dict:
    """Accuracy at each cost of a common grid, mean and spread over the seeds."""
    costs = [budget * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    points = [spread([accuracy_at(r["costs"], r["accuracies"], c) for r in members])
              for c in costs]
    kept = [(c, p) for c, p in zip(costs, points) if p["n"] == p["of"]]
    return {"cost_usd": [c for c, _ in kept], "mean": [p["mean"] for _, p in kept],
            "std": [p["std"] for _, p in kept]}


def _mean_dicts(dicts: list[dict]) -> dict:
    keys = sorted({k for d in dicts for k in d})
    return {k: statistics.mean(d.get(k, 0.0) for d in dicts) for k in keys}


BASELINE = ("random", "annotate")  # what a user would do without elad: the obvious way
COST_SHARES = (0.25, 0.5, 0.75, 1.0)  # accuracy compared at these shares of the budget


def interval(values: list[float | None], confidence: float = 0.95) -> dict:
    """`spread` of paired per-seed values, with a t confidence interval of their mean
    (`low`, `high`; None unless every seed has a value and there are at least two)."""
    entry = spread(values)
    entry["low"] = entry["high"] = None
    if entry["n"] == entry["of"] and entry["n"] >= 2:
        half = (stats.t.ppf((1 + confidence) / 2, entry["n"] - 1) * entry["std"]
                / entry["n"] ** 0.5)
        entry["low"], entry["high"] = entry["mean"] - half, entry["mean"] + half
    return entry


def comparisons(grid: list[dict]) -> dict:
    """The benchmark's questions, answered per seed (paired: the same pool, test set and
    seed round) and then over seeds, with 95% intervals:

    - against the baseline (random questions annotated by the teacher), per other
      configuration: the cost at which it first reaches the baseline's final accuracy,
      as a fraction of the baseline's cost ("never" counts as not reached); its area
      under accuracy vs cost minus the baseline's; its accuracy minus the baseline's at
      shares of the budget and at the end;
    - per strategy, each mode's teacher dollars and output tokens per training target
      after the seed round over annotate's (the seed round is annotated in every mode).
    """
    by = {(r["strategy"], r["mode"], r["seed"]): r for r in grid}
    seeds = sorted({r["seed"] for r in grid})
    budget = max((r["budget_usd"] for r in grid), default=0.0)
    result = {"baseline": "/".join(BASELINE), "against_baseline": {}, "per_target": {}}
    for strategy, mode in dict.fromkeys((r["strategy"], r["mode"]) for r in grid):
        pairs = [(by.get((strategy, mode, s)), by.get((*BASELINE, s))) for s in seeds]
        pairs = [(x, b) for x, b in pairs if x and b]
        if (strategy, mode) != BASELINE and pairs:
            result["against_baseline"][f"{strategy}/{mode}"] = {
                "cost_to_baseline_final": interval([_ratio_or_none(
                    cost_to_reach(x["costs"], x["accuracies"], b["final_accuracy"]),
                    b["cost_usd"]) for x, b in pairs]),
                "area": interval([_diff(x["area"], b["area"]) for x, b in pairs]),
                "final_accuracy": interval([_diff(x["final_accuracy"], b["final_accuracy"])
                                            for x, b in pairs]),
                "accuracy_at": {str(share): interval([_diff(
                    accuracy_at(x["costs"], x["accuracies"], share * budget),
                    accuracy_at(b["costs"], b["accuracies"], share * budget))
                    for x, b in pairs]) for share in COST_SHARES},
            }
        annotated = [(by.get((strategy, mode, s)), by.get((strategy, "annotate", s)))
                     for s in seeds]
        annotated = [(x, a) for x, a in annotated if x and a]
        if mode != "annotate" and annotated:
            result["per_target"][f"{strategy}/{mode}"] = {
                key: interval([_ratio_or_none(x[key], a[key]) for x, a in annotated])
                for key in ("cost_per_target_after_seed",
                            "output_tokens_per_target_after_seed",
                            "input_tokens_per_target_after_seed")}
    return result


def _ratio_or_none(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- the table, the plots, the page ---------------------------------------------------

TABLE = [  # header, width, the configuration's entry, digits
    ("area", 11, "area", 3),
    ("acc@B/2", 11, "accuracy_at_half_budget", 3),
    ("final acc", 11, "final_accuracy", 3),
    ("cost $", 13, "cost_usd", 3),
    ("$ to 90% WP", 13, "cost_to_90pct_whole_pool", 3),
    ("$ to 100% WP", 13, "cost_to_100pct_whole_pool", 3),
    ("out tok/target", 14, "output_tokens_per_target_after_seed", 1),
    ("sat.", 5, "saturation_round", 0),
    ("AUROC", 11, "auroc", 3),
]


def show(entry: dict | None, digits: int) -> str:
    """mean±std over seeds; 'mean (n/m)' when only n of m seeds have a value; '-' for
    none. Digits 0: a round number per seed ('-' where none)."""
    if entry is None or entry["n"] == 0:
        return "-"
    if digits == 0:
        return ",".join("-" if v is None else str(v) for v in entry["values"])
    mean = f"{entry['mean']:.{digits}f}"
    if entry["n"] < entry["of"]:
        return f"{mean} ({entry['n']}/{entry['of']})"
    return f"{mean}±{entry['std']:.{digits}f}"


def show_cost(entry: dict | None, digits: int) -> str:
    """A cost to reach something: 'never' when no seed reached it."""
    return "never" if entry and entry["of"] and entry["n"] == 0 else show(entry, digits)


def table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    header = ["configuration", *(name for name, _, _, _ in TABLE)]
    rows = [[c["label"], *((show_cost if key.startswith("cost_to") else show)(
                c.get(key), digits) for _, _, key, digits in TABLE)]
            for c in summary["configurations"]]
    whole = summary["whole_pool"]
    if whole:
        cells = {"final_accuracy": whole["accuracy"], "cost_usd": whole["cost_usd"]}
        rows.append(["whole pool", *(show(cells[key], digits) if key in cells else ""
                                      for _, _, key, digits in TABLE)])
    return header, rows


def format_bench_table(summary: dict) -> str:
    header, rows = table_rows(summary)
    widths = [max(16, *(len(r[0]) for r in rows))] + [w for _, w, _, _ in TABLE]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    for row in rows:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def format_comparisons(summary: dict) -> str:
    """The answers, one line each: every configuration against the baseline (paired over
    seeds, mean [95% interval]), then each mode's cost per target against annotate's,
    then the whole-pool reference."""
    c = summary["comparisons"]
    lines = [f"against {c['baseline']} (paired over seeds; mean [95% interval]):"]
    for label, d in c["against_baseline"].items():
        reach = d["cost_to_baseline_final"]
        reached = (f"{_with_interval(reach, 1, '.2f')} of its cost" if reach["n"] else
                   "never")
        half = d["accuracy_at"]["0.5"]
        lines.append(f"  {label}: reaches its final accuracy at {reached}; area "
                     f"{_with_interval(d['area'], 100, '+.1f')} points; at half the budget "
                     f"{_with_interval(half, 100, '+.1f')}; final "
                     f"{_with_interval(d['final_accuracy'], 100, '+.1f')}")
    for label, d in c["per_target"].items():
        lines.append(f"{label}: teacher $ per target after the seed round "
                     f"{_with_interval(d['cost_per_target_after_seed'], 1, '.3f')} of "
                     "annotate's (output tokens "
                     f"{_with_interval(d['output_tokens_per_target_after_seed'], 1, '.3f')}"
                     ", input tokens "
                     f"{_with_interval(d['input_tokens_per_target_after_seed'], 1, '.3f')})")
    whole = summary["whole_pool"]
    if whole:
        lines.append(f"whole pool: accuracy {show(whole['accuracy'], 3)} for "
                     f"${show(whole['cost_usd'], 3)}; the budget ${summary['budget_usd']} "
                     f"is {summary['budget_usd'] / whole['cost_usd']['mean']:.2f} of that")
    return "\n".join(lines)


def _with_interval(entry: dict, scale: float, spec: str) -> str:
    """'mean [low, high]' (scaled), or 'mean ± std (n of m seeds)' without an interval."""
    if not entry["n"]:
        return "-"
    mean = format(scale * entry["mean"], spec)
    if entry["low"] is None:
        return f"{mean} ± {format(scale * entry['std'], spec.lstrip('+'))} " \
               f"({entry['n']} of {entry['of']} seeds)"
    return (f"{mean} [{format(scale * entry['low'], spec)}, "
            f"{format(scale * entry['high'], spec)}]")


def plots(summary: dict) -> dict[str, bytes]:
    """PNG files: accuracy against cost per mode (mean ± std over seeds, the whole-pool
    accuracy as a line), and output tokens per target by mode."""
    files = {}
    whole = summary["whole_pool"]
    hlines = []
    if whole:
        label = (f"whole pool: {whole['accuracy']['mean']:.3f} at "
                 f"${whole['cost_usd']['mean']:.2f}")
        hlines.append((whole["accuracy"]["mean"], label))
    for mode in sorted({c["mode"] for c in summary["configurations"]}):
        series = []
        for c in summary["configurations"]:
            if c["mode"] != mode:
                continue
            curve = c["curve"]
            series.append(Series(
                c["strategy"], curve["cost_usd"], curve["mean"],
                [m - s for m, s in zip(curve["mean"], curve["std"])],
                [m + s for m, s in zip(curve["mean"], curve["std"])], step=True))
        files[f"accuracy_vs_cost_{mode}.png"] = line_plot(
            series, "cumulative teacher cost ($)", "test accuracy",
            f"Accuracy at each cost, mode {mode} (mean ± std over seeds)", hlines)
    strategies = list(dict.fromkeys(c["strategy"] for c in summary["configurations"]))
    modes = list(dict.fromkeys(c["mode"] for c in summary["configurations"]))
    entry = {(c["strategy"], c["mode"]): c["output_tokens_per_target_after_seed"]
             for c in summary["configurations"]}
    values = {m: [(entry.get((s, m)) or {}).get("mean") or 0.0 for s in strategies]
              for m in modes}
    errors = {m: [(entry.get((s, m)) or {}).get("std") or 0.0 for s in strategies]
              for m in modes}
    files["tokens_per_target.png"] = bar_plot(
        strategies, values, "strategy", "teacher output tokens per target",
        "Output tokens per training target after the seed round", errors)
    return files


EVIDENCE = [  # header, configuration entry, digits
    ("in tok/target", "input_tokens_per_target_after_seed", 1),
    ("$/target", "cost_per_target_after_seed", 5),
    ("greedy wrong: selected", "selected_wrong", 3),
    ("greedy wrong: candidates", "candidates_wrong", 3),
    ("confirmed", "confirmed_overall", 3),
    ("first error step", "first_error_step", 2),
    ("first error / lines", "first_error_relative", 2),
    ("error at step 1", "first_error_at_step_1", 2),
    ("error at answer line", "first_error_at_answer_line", 2),
    ("target steps: selected", "target_steps_selected", 2),
    ("target steps: seed round", "target_steps_seed_round", 2),
]


def index_html(summary: dict, images: dict[str, bytes], info: dict) -> str:
    header, rows = table_rows(summary)
    families = sorted({k for c in summary["configurations"] for k in c["selected_families"]})
    evidence = table(
        ["configuration", *(h for h, _, _ in EVIDENCE), *(f"share {f}" for f in families)],
        [[c["label"], *(show(c[key], d) for _, key, d in EVIDENCE),
          *(f"{c['selected_families'].get(f, 0.0):.2f}" for f in families)]
         for c in summary["configurations"]], text_columns=1)
    runs = table(["run", "kind", "rounds", "cost $", "final acc", "stopped"],
                 [[link(f"runs/{r['name']}/report.html", r["name"]), r["kind"],
                   len(r["costs"]), f"{r['cost_usd']:.4f}", f"{r['final_accuracy']:.3f}",
                   r["stop_reason"]] for r in summary["runs"]], text_columns=2)
    return page(
        "elad bench",
        tag("h1", "elad bench"),
        tag("p", f"Command: {info.get('command', '')}"),
        tag("p", f"Machine: {info.get('machine', '')}. Making the runs took "
                 f"{info.get('wall_s', 0) / 60:.1f} min of wall time over "
                 f"{info.get('invocations', 0)} invocation(s); the runs' own times add up "
                 f"to {info.get('runs_wall_s', 0) / 60:.1f} min (they run side by side)."),
        tag("p", "Every figure is mean ± sample standard deviation over seeds; "
                 "'area' is the mean accuracy over costs from the seed round's to the "
                 f"budget (${summary['budget_usd']}); costs in dollars; WP = the whole-pool "
                 "accuracy of the same seed; '(n/m)': only n of m seeds got there; "
                 "output tokens per target count the rounds after the seed round.",
            cls="muted"),
        tag("h2", "Results"), table(header, rows, text_columns=1),
        tag("ul", *(tag("li", line) for line in format_comparisons(summary).splitlines())),
        *(Markup(tag("h3", name) + image(png, name)) for name, png in images.items()),
        tag("h2", "Evidence: what was selected and what the teacher found"),
        tag("p", "Rounds after the seed round, mean ± std over seeds; tokens and dollars "
                 "per training target. 'greedy wrong': share of questions whose greedy "
                 "student answer was wrong, among the selected ones and among all scored "
                 "candidates; first-error figures over revisions with an error (the "
                 "answer line is the last line); target steps: steps of the training "
                 "targets; share: task families of the selected questions.", cls="muted"),
        evidence,
        tag("h2", "Runs"), runs)


def write_summary(out: Path, runs: list[dict], info: dict) -> dict:
    """bench.json, the PNG plots and index.html in `out`; returns the summary."""
    summary = summarize(runs)
    summary.update(info)
    images = plots(summary)
    for name, png in images.items():
        (out / name).write_bytes(png)
    (out / "bench.json").write_text(json.dumps(summary, indent=1))
    (out / "index.html").write_text(index_html(summary, images, info), encoding="utf-8")
    return summary
