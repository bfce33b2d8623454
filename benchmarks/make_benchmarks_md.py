"""Write BENCHMARKS.md from an `elad bench` grid's bench.json: the command, the machine,
the wall time, the table, the answers to the benchmark's questions against their goals,
and the evidence table. Hand-written notes below the NOTES marker are kept.

    elad bench --out runs/bench
    python benchmarks/make_benchmarks_md.py runs/bench/bench.json   # -> BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elad.bench import grid_run_steps
from elad.reading.bench_summary import EVIDENCE, show, table_rows
from elad.budget import teacher_prices
from elad.config import config_from_json

NOTES = "<!-- notes: written by hand; make_benchmarks_md.py keeps everything below -->"
GOALS = {"cost_fraction": 0.6, "area_points": 5.0, "dollars_per_target_ratio": 1.0}
DEFAULT = "elad/auto"  # the default configuration the goals are about


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "no data" if ok is None else "met" if ok else "missed"


def _interval(entry: dict, scale: float = 1.0, spec: str = ".2f") -> str:
    if not entry["n"]:
        return "never"
    mean = format(scale * entry["mean"], spec)
    if entry["low"] is None:
        return (f"{mean} ± {format(scale * entry['std'], spec.lstrip('+'))} in the "
                f"{entry['n']} of {entry['of']} seeds that got there (no interval)")
    return (f"{mean} [95% interval {format(scale * entry['low'], spec)}, "
            f"{format(scale * entry['high'], spec)}]")


def questions(summary: dict) -> list[str]:
    """The issue's questions, each with its figure, its goal and met/missed."""
    c = summary["comparisons"]
    lines = []
    for label, d in c["against_baseline"].items():
        reach, area = d["cost_to_baseline_final"], d["area"]
        judged = label == DEFAULT
        reach_ok = (reach["high"] is not None and reach["mean"] <= GOALS["cost_fraction"]
                    and reach["high"] < 1)
        area_ok = area["n"] > 0 and 100 * area["mean"] >= GOALS["area_points"]
        lines.append(
            f"- {label} against {c['baseline']}: the cost to reach {c['baseline']}'s "
            f"final accuracy, as a fraction of {c['baseline']}'s cost: {_interval(reach)}"
            + (f" (goal: at most {GOALS['cost_fraction']}, interval below 1; "
               f"{verdict(reach_ok)})" if judged else "")
            + f"; area under accuracy vs cost {_interval(area, 100, '+.1f')} points"
            + (f" (goal: at least +{GOALS['area_points']:.0f}; {verdict(area_ok)})"
               if judged else "")
            + "; accuracy at half the budget "
            f"{_interval(d['accuracy_at']['0.5'], 100, '+.1f')} points; final "
            f"{_interval(d['final_accuracy'], 100, '+.1f')} points.")
    for label, d in c["per_target"].items():
        ratio = d["cost_per_target_after_seed"]
        ok = ratio["n"] > 0 and ratio["mean"] <= GOALS["dollars_per_target_ratio"]
        lines.append(
            f"- {label}: teacher dollars per training target after the seed round, as a "
            f"fraction of annotate's for the same strategy: {_interval(ratio, 1, '.3f')}"
            + (f" (goal: at most {GOALS['dollars_per_target_ratio']:.0f}; {verdict(ok)})"
               if label == DEFAULT else "")
            + f"; output tokens {_interval(d['output_tokens_per_target_after_seed'], 1, '.3f')}"
            f"; input tokens {_interval(d['input_tokens_per_target_after_seed'], 1, '.3f')}.")
    whole = summary["whole_pool"]
    if whole:
        lines.append(f"- Whole pool: accuracy {show(whole['accuracy'], 3)} for "
                     f"${show(whole['cost_usd'], 3)} ({whole['targets']['mean']:.0f} "
                     f"targets); the budget, ${summary['budget_usd']}, is "
                     f"{summary['budget_usd'] / whole['cost_usd']['mean']:.2f} of that.")
    return lines


def generated(summary: dict) -> str:
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
                  "once, from scratch, for as many steps as a grid run takes in all "
                  f"({grid_run_steps(run_config)})." if summary["whole_pool"] else
                  "No whole-pool reference was made.")
    return "\n".join([
        "# Benchmarks",
        "",
        "Generated by `benchmarks/make_benchmarks_md.py` from the grid's `bench.json`.",
        "",
        "## What ELAD buys: `elad bench` on the offline default task suite",
        "",
        (f"Command: `{summary['command']}`, then "
         "`python benchmarks/make_benchmarks_md.py <out>/bench.json`."),
        "",
        f"Machine: {summary['machine']}.",
        "",
        (f"Wall time: {summary['wall_s'] / 60:.1f} min to make the grid's runs (over "
         f"{summary['invocations']} invocation(s)); the runs' own times add up to "
         f"{summary['runs_wall_s'] / 60:.1f} min (they run side by side)."),
        "",
        (f"Grid: configurations (strategy/mode) "
         f"{', '.join(c['label'] for c in summary['configurations'])} x seeds "
         f"{', '.join(map(str, grid['seeds']))}"
         f"{', plus per seed the whole-pool reference' if summary['whole_pool'] else ''}"
         ". Each seed has its own pool "
         f"({task['pool_size'] or 3000} questions of {', '.join(task['families'])}) and "
         f"test set ({task['test_size'] or 300}); the seed round "  # 0: the default
         f"({config['seed_size']} random questions, annotated) is shared by every run of "
         "a seed. Budget "
         f"${config['budget_usd']}, rounds of {config['round_size']} from "
         f"{config['candidates']} candidates, at most {config['max_rounds']} rounds after "
         f"the seed round, K={student['samples']}; student {student['kind']} "
         f"{student['hidden_size']}x{student['layers']}, {student['seed_train_steps']} "
         f"steps after the seed round, then per round {student['train_steps']} or as many "
         f"as {student['train_epochs']:g} passes over all its targets take (at "
         f"{student['learning_rate']:g}); teacher "
         f"{teacher['kind']} priced as {teacher['model']} (${prices.input_per_mtok:g} / "
         f"${prices.output_per_mtok:g} per million input / output tokens). {whole_pool}"),
        "",
        ("Each figure is the mean ± sample standard deviation over the seeds. area: the "
         "mean test accuracy over costs from the seed round's to the budget (a run that "
         "stops early keeps its last accuracy); acc@B/2: the accuracy after the last "
         "round that cost at most half the budget; $ to 90% / 100% WP: the cumulative "
         "cost of the first round at or above 90% / 100% of the same seed's whole-pool "
         "accuracy ('(n/m)': only n of m seeds got there); out tok/target: teacher "
         "output tokens per training target in the rounds after the seed round; sat.: "
         "the round whose confirmed fraction stopped the run, per seed; AUROC: of the "
         "run's own strategy score for 'the student's greedy answer is wrong', mean over "
         "its scored rounds."),
        "",
        markdown_table(header, rows),
        "",
        "### The questions",
        "",
        *questions(summary),
        "",
        "### Evidence: what was selected and what the teacher found",
        "",
        ("Rounds after the seed round. in tok/target, $/target: teacher input tokens "
         "and dollars per training target. greedy wrong: share of questions the student "
         "answered wrongly (greedy), among the selected ones and among all scored "
         "candidates; first-error figures are over revisions in which the teacher found "
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
