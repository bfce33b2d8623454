"""What an `elad bench` grid shows: the table it prints, the comparisons in words,
DIR/bench.json, the PNG plots and DIR/index.html. The numbers are bench_numbers.py's,
from the runs' stores only (no torch).
"""

from __future__ import annotations

import json
from pathlib import Path

from elad.reading.bench_numbers import RunMetrics, summarize
from elad.reading.html_page import Markup, image, link, page, table, tag
from elad.reading.plots import Labels, Series, bar_plot, line_plot

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
    whole = summary["whole_pool"]

    def reached(key: str) -> bool:  # a cost to reach a level that was measured
        return key.startswith("cost_to") and (bool(whole) or "whole_pool" not in key)

    rows = [[c["label"], *((show_cost if reached(key) else show)(c.get(key), digits)
                           for _, _, key, digits in TABLE)]
            for c in summary["configurations"]]
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


UNSPENT = 0.9  # when every run stopped below this share of the budget, it is said


def format_comparisons(summary: dict) -> str:
    """The answers, one line each: every configuration against the baseline (paired over
    seeds, mean [95% interval]), then each mode's cost per target against annotate's,
    then the whole-pool reference."""
    c = summary["comparisons"]
    lines = [f"against {c['baseline']} (paired over seeds; mean [95% interval]):"]
    runs = [r for r in summary.get("runs", []) if r["kind"] == "grid"]
    most = max((r["cost_usd"] for r in runs), default=0.0)
    if runs and most < UNSPENT * summary["budget_usd"]:
        why = ", ".join(sorted({r["stop_reason"] or "not finished" for r in runs}))
        lines.append(f"  (every run stopped by ${most:.4f} of "
                     f"the ${summary['budget_usd']:g} budget ({why}): the areas carry each "
                     "run's last accuracy on to the budget)")
    for label, d in c["against_baseline"].items():
        reach = d["cost_to_baseline_final"]
        if not reach["of"]:  # no seed where the baseline rose above its seed round
            reached = (f"nothing to reach ({c['baseline']} ended no higher than its "
                       "seed round)")
        elif reach["n"]:
            reached = (f"reaches {c['baseline']}'s final accuracy at "
                       f"{with_interval(reach, 1, '.2f')} of its cost")
        else:
            reached = f"never reaches {c['baseline']}'s final accuracy"
        if 0 < reach["of"] < (paired := d["area"]["of"]):  # else said with its "of"
            left = paired - reach["of"]
            reached += (f" ({left} of {paired} seeds left out: there {c['baseline']} ended "
                        "no higher than its seed round)")
        half = d["accuracy_at"]["0.5"]
        at_half = with_interval(half, 100, '+.1f') if half["n"] else \
            "- (the seed round cost more than half of it)"
        lines.append(f"  {label}: {reached}; "
                     f"area {with_interval(d['area'], 100, '+.1f')} points; at half the "
                     f"budget {at_half}; final "
                     f"{with_interval(d['final_accuracy'], 100, '+.1f')}")
    for label, d in c["per_target"].items():
        lines.append(f"{label}: teacher $ per target after the seed round "
                     f"{with_interval(d['cost_per_target_after_seed'], 1, '.3f')} of "
                     "annotate's (output tokens "
                     f"{with_interval(d['output_tokens_per_target_after_seed'], 1, '.3f')}"
                     ", input tokens "
                     f"{with_interval(d['input_tokens_per_target_after_seed'], 1, '.3f')})")
    whole = summary["whole_pool"]
    if whole:
        lines.append(f"whole pool: accuracy {show(whole['accuracy'], 3)} for "
                     f"${show(whole['cost_usd'], 3)}; the budget ${summary['budget_usd']} "
                     f"is {summary['budget_usd'] / whole['cost_usd']['mean']:.2f} of that")
    return "\n".join(lines)


def with_interval(entry: dict, scale: float, spec: str) -> str:
    """'mean [low, high]' (scaled), or 'mean ± std (n of m seeds)' without an interval;
    seeds that all gave the same value say so (a zero-width interval looks certain)."""
    if not entry["n"]:
        return "-"
    mean = format(scale * entry["mean"], spec)
    if entry["low"] is not None and entry["std"] < 1e-9:  # alike but for float noise
        return f"{mean} (the same in all {entry['n']} seeds: no interval)"
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
        files[f"accuracy_vs_cost_{mode}.png"] = line_plot(series, Labels(
            "cumulative teacher cost ($)", "test accuracy",
            f"Accuracy at each cost, mode {mode} (mean ± std over seeds)"), hlines)
    strategies = list(dict.fromkeys(c["strategy"] for c in summary["configurations"]))
    modes = list(dict.fromkeys(c["mode"] for c in summary["configurations"]))
    entry = {(c["strategy"], c["mode"]): c["output_tokens_per_target_after_seed"]
             for c in summary["configurations"]}
    values = {m: [(entry.get((s, m)) or {}).get("mean") or 0.0 for s in strategies]
              for m in modes}
    errors = {m: [(entry.get((s, m)) or {}).get("std") or 0.0 for s in strategies]
              for m in modes}
    files["tokens_per_target.png"] = bar_plot(
        strategies, values, Labels("strategy", "teacher output tokens per target",
                                   "Output tokens per training target after the seed "
                                   "round"), errors)
    return files


EVIDENCE = [  # header, configuration entry, digits
    ("in tok/target", "input_tokens_per_target_after_seed", 1),
    ("$/target", "cost_per_target_after_seed", 5),
    ("greedy wrong: selected", "selected_wrong", 3),
    ("greedy wrong: candidates", "candidates_wrong", 3),
    ("revised: no wrong step", "confirmed_overall", 3),
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
                 "'area' is the mean accuracy over costs from the seed's cheapest seed "
                 f"round to the budget (${summary['budget_usd']}); costs in dollars; WP = "
                 "the whole-pool accuracy of the same seed; '(n/m)': only n of m seeds got "
                 "there; output tokens per target count the rounds after the seed round.",
            cls="muted"),
        tag("h2", "Results"), table(header, rows, text_columns=1),
        tag("ul", *(tag("li", line) for line in format_comparisons(summary).splitlines())),
        *(Markup(tag("h3", name) + image(png, name)) for name, png in images.items()),
        tag("h2", "Evidence: what was selected and what the teacher found"),
        tag("p", "Rounds after the seed round, mean ± std over seeds; tokens and dollars "
                 "per training target. 'greedy wrong': share of questions whose greedy "
                 "student answer was wrong, among the selected ones and among all scored "
                 "candidates; 'revised: no wrong step': share of the revisions in which "
                 "the teacher found no wrong step; first-error figures over revisions "
                 "with an error (the answer line is the last line); target steps: steps "
                 "of the training targets; share: task families of the selected "
                 "questions.", cls="muted"),
        evidence,
        tag("h2", "Runs"), runs)


def write_summary(out: Path, runs: list[RunMetrics], info: dict,
                  baseline: tuple[str, str]) -> dict:
    """bench.json, the PNG plots and index.html in `out`, the grid's configurations
    compared with `baseline` (strategy, mode); returns the summary."""
    summary = summarize(runs, baseline)
    summary.update(info)
    images = plots(summary)
    for name, png in images.items():
        (out / name).write_bytes(png)
    (out / "bench.json").write_text(json.dumps(summary, indent=1))
    (out / "index.html").write_text(index_html(summary, images, info), encoding="utf-8")
    return summary


# --- the regimes, side by side: DIR/bench.json and DIR/index.html ----------------------

def format_regimes(summary: dict) -> str:
    """Per regime: its name and what it is, the table, then the comparisons."""
    return "\n\n".join(
        f"regime {r['name']}: {r['description']}\n\n{format_bench_table(r['bench'])}\n\n"
        f"{format_comparisons(r['bench'])}" for r in summary["regimes"])


def regimes_html(summary: dict, out: Path) -> str:
    sections = []
    for r in summary["regimes"]:
        header, rows = table_rows(r["bench"])
        overrides = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "none"
        plots_there = sorted((out / r["directory"]).glob("accuracy_vs_cost_*.png"))
        sections += [
            tag("h2", f"Regime {r['name']}"),
            tag("p", f"{r['description']}. Overrides: {overrides}. ",
                link(f"{r['directory']}/index.html", "The grid, its evidence and its runs"),
                "."),
            table(header, rows, text_columns=1),
            tag("ul", *(tag("li", line)
                        for line in format_comparisons(r["bench"]).splitlines())),
            *(image(path.read_bytes(), f"{r['name']}: {path.name}") for path in plots_there)]
    return page(
        "elad bench: regimes",
        tag("h1", "elad bench"),
        tag("p", f"Command: {summary.get('command', '')}"),
        tag("p", f"Machine: {summary.get('machine', '')}. Making the runs took "
                 f"{summary.get('wall_s', 0) / 60:.1f} min of wall time; the runs' own "
                 f"times add up to {summary.get('runs_wall_s', 0) / 60:.1f} min."),
        tag("p", "The same grid in each regime (a regime is key=value overrides on the "
                 "config). Every figure is mean ± sample standard deviation over seeds; "
                 "the comparisons are paired by seed, mean [95% interval].", cls="muted"),
        *sections)


def write_regimes_summary(out: Path, regimes: list[dict], info: dict) -> dict:
    """out/bench.json and out/index.html over the regimes' grids (`regimes`: each with
    its name, description, overrides, directory under `out` and the grid's summary as
    `write_summary` returned it); returns the summary."""
    summary = {**info, "regimes": regimes}
    partial = out / "bench.json.partial"
    partial.write_text(json.dumps(summary, indent=1))
    partial.rename(out / "bench.json")
    (out / "index.html").write_text(regimes_html(summary, out), encoding="utf-8")
    return summary
