"""Write BENCHMARKS.md from an `elad bench` grid's bench.json: the command, the machine,
the wall time, then per regime (the cold and the warm student) its grid's setup, the
table, the answers to the benchmark's questions against their goals, and the evidence
table. Hand-written notes below the NOTES marker are kept.

    elad bench --out runs/bench
    python benchmarks/make_benchmarks_md.py runs/bench/bench.json   # -> BENCHMARKS.md

(A bench.json of one regime's grid, runs/bench/warm/bench.json, or of a grid made before
regimes, is rendered as one unnamed section.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elad.bench import grid_run_steps
from elad.budget import teacher_prices
from elad.config import RunConfig, config_from_json
from elad.reading.bench_summary import EVIDENCE, show, table_rows

NOTES = "<!-- notes: written by hand; make_benchmarks_md.py keeps everything below -->"
# issue 24's goals for the default configuration against the baseline, per regime: the
# cost to reach the baseline's final accuracy (a fraction of its cost, in at least this
# share of the seeds), the area under accuracy vs cost (mean and 95% interval's low end,
# points) and the teacher dollars per target against annotate's; a goal left out is not
# judged. A grid made before regimes is judged as "".
GOALS = {
    "warm": {"cost_fraction": 0.6, "reached_share": 0.75, "area_points": 5.0,
             "area_low_points": 0.0, "dollars_per_target_ratio": 0.85},
    "cold": {"area_points": 0.0, "area_low_points": -2.0},
    "": {"cost_fraction": 0.6, "area_points": 5.0, "dollars_per_target_ratio": 1.0},
}
DEFAULT = f"{RunConfig().strategy}/{RunConfig().mode}"  # what the goals are about


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "no data" if ok is None else "met" if ok else "missed"


def _interval(entry: dict, scale: float = 1.0, spec: str = ".2f") -> str:
    if not entry["n"]:  # no seed with a value: none got there, or none had anywhere to go
        return "never" if entry["of"] else "nothing to reach (the baseline never rose)"
    mean = format(scale * entry["mean"], spec)
    if entry["low"] is None:
        return (f"{mean} ± {format(scale * entry['std'], spec.lstrip('+'))} in the "
                f"{entry['n']} of {entry['of']} seeds that got there (no interval)")
    return (f"{mean} [95% interval {format(scale * entry['low'], spec)}, "
            f"{format(scale * entry['high'], spec)}]")


def reach_goal(reach: dict, goals: dict) -> str:
    if "cost_fraction" not in goals:
        return ""
    share = goals.get("reached_share", 1.0)
    ok = (reach["n"] > 0 and reach["n"] >= share * reach["of"]
          and reach["mean"] <= goals["cost_fraction"])
    return (f" (goal: at most {goals['cost_fraction']}, reached in at least "
            f"{share:.0%} of the seeds; {verdict(ok)})")


def area_goal(area: dict, goals: dict) -> str:
    if "area_points" not in goals:
        return ""
    ok = area["n"] > 0 and 100 * area["mean"] >= goals["area_points"]
    text = f"at least {goals['area_points']:+.0f}"
    if "area_low_points" in goals:
        ok = ok and area["low"] is not None and 100 * area["low"] >= goals["area_low_points"]
        text += f", interval's low end at least {goals['area_low_points']:+.0f}"
    return f" (goal: {text}; {verdict(ok)})"


def ratio_goal(ratio: dict, goals: dict) -> str:
    if "dollars_per_target_ratio" not in goals:
        return ""
    ok = ratio["n"] > 0 and ratio["mean"] <= goals["dollars_per_target_ratio"]
    return f" (goal: at most {goals['dollars_per_target_ratio']:g}; {verdict(ok)})"


def questions(summary: dict, goals: dict) -> list[str]:
    """The issue's questions, each with its figure, and for the default configuration
    its goal (`goals`, the regime's) and met/missed."""
    c = summary["comparisons"]
    lines = []
    for label, d in c["against_baseline"].items():
        reach, area = d["cost_to_baseline_final"], d["area"]
        judged = goals if label == DEFAULT else {}
        lines.append(
            f"- {label} against {c['baseline']}: the cost to reach {c['baseline']}'s "
            f"final accuracy, as a fraction of {c['baseline']}'s cost: {_interval(reach)}"
            f"{reach_goal(reach, judged)}; area under accuracy vs cost "
            f"{_interval(area, 100, '+.1f')} points{area_goal(area, judged)}"
            "; accuracy at half the budget "
            f"{_interval(d['accuracy_at']['0.5'], 100, '+.1f')} points; final "
            f"{_interval(d['final_accuracy'], 100, '+.1f')} points.")
    for label, d in c["per_target"].items():
        ratio = d["cost_per_target_after_seed"]
        judged = goals if label == DEFAULT else {}
        lines.append(
            f"- {label}: teacher dollars per training target after the seed round, as a "
            f"fraction of annotate's for the same strategy: {_interval(ratio, 1, '.3f')}"
            f"{ratio_goal(ratio, judged)}"
            f"; output tokens {_interval(d['output_tokens_per_target_after_seed'], 1, '.3f')}"
            f"; input tokens {_interval(d['input_tokens_per_target_after_seed'], 1, '.3f')}.")
    whole = summary["whole_pool"]
    if whole:
        lines.append(f"- Whole pool: accuracy {show(whole['accuracy'], 3)} for "
                     f"${show(whole['cost_usd'], 3)} ({whole['targets']['mean']:.0f} "
                     f"targets); the budget, ${summary['budget_usd']}, is "
                     f"{summary['budget_usd'] / whole['cost_usd']['mean']:.2f} of that.")
    return lines


def generated(top: dict) -> str:
    """The page: what was run and where, then a section per regime."""
    regimes = top.get("regimes") or [{"name": "", "description": "", "overrides": {},
                                       "bench": top}]
    return "\n".join([
        "# Benchmarks",
        "",
        "Generated by `benchmarks/make_benchmarks_md.py` from the grid's `bench.json`.",
        "",
        (f"Command: `{top['command']}`, then "
         "`python benchmarks/make_benchmarks_md.py <out>/bench.json`."),
        "",
        f"Machine: {regimes[0]['bench']['machine']}.",
        "",
        (f"Wall time: {top['wall_s'] / 60:.1f} min to make the grids' runs; the runs' own "
         f"times add up to {top['runs_wall_s'] / 60:.1f} min (they run side by side)."),
        "",
        *(regime_section(r) for r in regimes),
    ])


def regime_section(regime: dict) -> str:
    """One regime's grid: its setup, the table, the questions, the evidence."""
    summary = regime["bench"]
    config = summary["config"]
    grid = summary["grid"]
    header, rows = table_rows(summary)
    evidence = markdown_table(
        ["configuration", *(h for h, _, _ in EVIDENCE)],
        [[c["label"], *(show(c[key], d) for _, key, d in EVIDENCE)]
         for c in summary["configurations"]])
    student, teacher, task = config["student"], config["teacher"], config["task"]
    run_config = config_from_json(json.dumps(config))
    prices = teacher_prices(run_config.teacher)
    whole_pool = ("The whole-pool reference annotates every pool question and trains "
                  "once, from the same start, for as many steps as a grid run takes in all "
                  f"({grid_run_steps(run_config)})." if summary["whole_pool"] else
                  "No whole-pool reference was made.")
    name = regime["name"]
    overrides = " ".join(f"`{k}={v}`" for k, v in regime["overrides"].items())
    where = (f"Regime overrides: {overrides or 'none'} (on the command's config); the "
             f"grid is `<out>/{regime.get('directory', name)}`.")
    chains = (f", chains of at least {task['min_steps']} steps"
              if task.get("min_steps", 1) > 1 else "")
    prefix = f"{name}: " if name else ""
    warm = " warmed up on the curriculum" if student.get("warmup", "none") != "none" else ""
    return "\n".join([
        (f"## What ELAD buys, {name} regime: {regime['description']}" if name else
         "## What ELAD buys: `elad bench` on the offline default task suite"),
        "",
        *([where, ""] if name else []),
        (f"Grid: configurations (strategy/mode) "
         f"{', '.join(c['label'] for c in summary['configurations'])} x seeds "
         f"{', '.join(map(str, grid['seeds']))}"
         f"{', plus per seed the whole-pool reference' if summary['whole_pool'] else ''}"
         ". Each seed has its own pool "
         f"({task['pool_size'] or 3000} questions of {', '.join(task['families'])}"
         f"{chains}"
         f") and test set ({task['test_size'] or 300}); the seed round "  # 0: the default
         f"({config['seed_size']} questions, annotated) is shared by the runs of a seed "
         "that take random ones (a warm student ranks its own and, in mode auto, revises "
         "where that costs less: asking.ranks_seed_round). "
         "Budget "
         f"${config['budget_usd']}, rounds of {config['round_size']} from "
         f"{config['candidates']} candidates, at most {config['max_rounds']} rounds after "
         f"the seed round, K={student['samples']}; student {student['kind']} "
         f"{student['hidden_size']}x{student['layers']}"
         f"{warm}, "
         f"{student['seed_train_steps']} "
         f"steps after the seed round, then per round {student['train_steps']} or as many "
         f"as {student['train_epochs']:g} passes over all its targets take (at "
         f"{student['learning_rate']:g}); teacher "
         f"{teacher['kind']} priced as {teacher['model']} (${prices.input_per_mtok:g} / "
         f"${prices.output_per_mtok:g} per million input / output tokens). {whole_pool}"),
        "",
        ("Each figure is the mean ± sample standard deviation over the seeds. area: the "
         "mean test accuracy over costs from the seed's cheapest seed round to the budget "
         "(a run that stops early keeps its last accuracy; one whose seed round cost more "
         "has its untrained student's accuracy until then); acc@B/2: the accuracy after "
         "the last round that cost at most half the budget; $ to 90% / 100% WP: the cumulative "
         "cost of the first round at or above 90% / 100% of the same seed's whole-pool "
         "accuracy ('(n/m)': only n of m seeds got there); out tok/target: teacher "
         "output tokens per training target in the rounds after the seed round; sat.: "
         f"the round after which the saturation rule (θ {config['saturation']:g}) would "
         "have stopped the run, per seed (grid runs go on to the budget, so that every "
         "configuration spends the same money); AUROC: of the "
         "run's own strategy score for 'the student's greedy answer is wrong', mean over "
         "its scored rounds."),
        "",
        markdown_table(header, rows),
        "",
        f"### {prefix}The questions",
        "",
        *questions(summary, GOALS.get(name, {})),
        "",
        f"### {prefix}Evidence: what was selected and what the teacher found",
        "",
        ("Rounds after the seed round. in tok/target, $/target: teacher input tokens "
         "and dollars per training target. greedy wrong: share of questions the student "
         "answered wrongly (greedy), among the selected ones and among all scored "
         "candidates; revised: no wrong step: the share of the revisions in which the "
         "teacher found no wrong step (not the run table's `confirmed`, which asks "
         "whether its answer was the student's); first-error figures are over "
         "revisions in which the teacher found "
         "an error (the answer line is the last line); target steps: steps of the "
         "training targets."),
        "",
        evidence,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent
                        / "BENCHMARKS.md")
    args = parser.parse_args()
    summary = json.loads(args.bench_json.read_text())
    notes = ""
    if args.out.exists() and NOTES in args.out.read_text():
        notes = args.out.read_text().split(NOTES, 1)[1]
    args.out.write_text(generated(summary) + "\n" + NOTES + (notes or "\n"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
