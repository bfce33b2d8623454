"""`elad report`: the per-round table, and the HTML page of one run (why it stopped, the
budget, per-round metrics and plots, the forecast, accuracy per task, a baseline run's
curve and the money saved at equal accuracy, the selection diagnostic, the cost
breakdown, and a few selected questions per round with why they were chosen and what
the teacher did). The page's numbers are run_numbers.py's; never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from elad.budget import teacher_prices
from elad.config import ConfigError, RunConfig
from elad.reading.diagnostics import NOT_AVAILABLE, round_diagnostic
from elad.reading.html_page import Markup, image, page, table, tag
from elad.reading.plots import Labels, Series, bar_plot, line_plot
from elad.reading.report_examples import RoundShown, example_html
from elad.reading.report_forecast import forecast_section
from elad.reading.report_summary import (
    CONFIRMED,
    bought_section,
    count,
    lowered_below,
    spending,
    untrained_round,
    verdict_line,
    why_stopped,
    worst_case_note,
)
from elad.reading.run_numbers import Baseline, cost_rows, load_baseline
from elad.reading.stop_line import going_on
from elad.run_forecast import stored_flat
from elad.rundir import RunDir
from elad.store import TEST_ROUND, RunStore
from elad.strategies import SCORED
from elad.types import RoundRecord

COLUMNS = [  # header, width, how to show a record's value
    ("round", 5, lambda r: f"{r.round}"),
    ("labeled", 7, lambda r: f"{r.n_labeled}"),
    ("calls", 5, lambda r: f"{r.teacher_calls}"),
    ("in tokens", 9, lambda r: f"{r.teacher_input_tokens}"),
    ("out tokens", 10, lambda r: f"{r.teacher_output_tokens}"),
    ("cost $", 8, lambda r: f"{r.cost_usd:.4f}"),
    ("test acc", 8, lambda r: f"{r.test_accuracy:.3f}"),
    ("confirmed", 9, lambda r: "-" if r.confirmed_fraction is None
     else f"{r.confirmed_fraction:.2f}"),
    ("forecast at 2x $", 16, lambda r: forecast_cell(r.forecast)),
]


def forecast_cell(stored: dict | None) -> str:
    """The forecast accuracy at twice the money spent so far, with its 90% band."""
    if not stored:
        return "-"
    if stored_flat(stored):
        return "flat"
    far = max(stored["predictions"], key=lambda p: p["horizon"])
    return f"{far['value']:.2f} [{far['low']:.2f},{far['high']:.2f}]"


def round_rows(records: list[RoundRecord]) -> list[tuple[list[str], str]]:
    """Each round's cells and stop reason, after a `start` row for a student that was
    tested before any teacher target (its accuracy at no cost)."""
    rows = []
    for record in records:
        if record.accuracy_before is not None:
            start = ["start", "0", "0", "0", "0", f"{0:.4f}", f"{record.accuracy_before:.3f}"]
            rows.append((start + ["-"] * (len(COLUMNS) - len(start)), ""))
        rows.append(([show(record) for _, _, show in COLUMNS], record.stop_reason))
    return rows


def format_table(records: list[RoundRecord], header: bool = True) -> str:
    """Rows of cumulative figures per round (teacher calls, tokens and cost so far)."""
    widths = [width for _, width, _ in COLUMNS]
    lines = ["  ".join(name.rjust(width) for name, width, _ in COLUMNS)] if header else []
    for cells, _ in round_rows(records):
        lines.append("  ".join(c.rjust(width) for c, width in zip(cells, widths)))
    return "\n".join(lines)


# --- the HTML report of one run -------------------------------------------------------

def write_run_report(run_dir: Path, examples_per_round: int = 3,
                     baseline_dir: Path | None = None) -> Path:
    """Write RUN_DIR/report.html (one self-contained page) from the run's store,
    compared with the run in `baseline_dir` if given."""
    with RunDir.open(run_dir) as run:
        baseline = load_baseline(baseline_dir, run) if baseline_dir else None
        text = run_report_html(run.store, run.config, Path(run_dir).name,
                               examples_per_round, baseline)
    path = Path(run_dir) / "report.html"
    path.write_text(text, encoding="utf-8")
    return path


def run_report_html(store: RunStore, config: RunConfig, title: str,
                    examples_per_round: int = 3, baseline: Baseline | None = None) -> str:
    """Why the run stopped and its budget, per-round metrics and plots, accuracy per
    task, the comparison with a baseline run (if any), the selection diagnostic, the
    cost breakdown, and for each round the first few selected questions: why each was
    chosen, the student's explanation, the teacher's reply and the training target."""
    records = store.rounds()
    calls = store.teacher_calls()
    costs = cost_rows(calls, teacher_prices(config.teacher))
    last = records[-1] if records else None
    worst_cases = worst_case_note(store)
    summary = (f"strategy {config.strategy}, mode {config.mode}, seed {config.seed}, "
               f"budget ${config.budget_usd}; teacher {config.teacher.kind}, student "
               f"{config.student.kind}. "
               + (f"{count(len(records), 'round')}; stopped: "
                  f"{last.stop_reason or 'not finished'}."
                  if last else "No finished round yet."))
    body = [tag("h1", f"elad run {title}"),
            *bought_section(store, config, records, baseline), tag("p", summary),
            *stop_and_budget_section(store, config, records),
            tag("h2", "Rounds"),
            tag("p", f"Figures are cumulative over the run so far; 'confirmed' is "
                     f"{CONFIRMED}." + (f" Of the tokens, {worst_cases}." if worst_cases
                                       else ""), cls="muted"),
            records_table(records)]
    if records:
        body += run_plots(records, costs)
        body += forecast_section(records, config, store.count_examples("test"))
    body += task_accuracy_section(records)
    if baseline is not None:
        body += baseline_section(records, baseline)
    body += diagnostic_section(store, config)
    test_set = [dict(row, round="test set") for row in  # apart from the rounds'
                cost_rows(store.teacher_calls(TEST_ROUND), teacher_prices(config.teacher))]
    body += [tag("h2", "Cost breakdown"), cost_table(costs + test_set)]
    body.append(tag("h2", "Selected questions"))
    targets = {t.example_id: t for t in store.targets()}
    finished = {r.round for r in records}
    for round in sorted({c.round for c in calls}):
        asked = {c.example_id: c for c in calls if c.round == round}
        selected = store.selection(round) or []
        sent = [qid for qid in selected if qid in asked]
        shown = sent[:examples_per_round]
        why = ("then skipped: no longer within the budget" if round in finished else
               "not sent yet: the run stopped in this round; a rerun sends those the "
               "budget allows")
        skipped = (f" ({len(selected) - len(sent)} more selected, {why})"
                   if len(sent) < len(selected) else "")
        body.append(tag("h3", f"Round {round}: {count(len(sent), 'question')} sent to "
                              f"the teacher{skipped}, the first {len(shown)} in selection "
                              "order"))
        context = RoundShown(round, store.scores(round), asked, targets)
        for position, qid in enumerate(shown, 1):
            body.append(example_html(store, config, context, position, qid))
    body.append(tag("details", tag("summary", "Configuration"),
                    tag("pre", json.dumps(config.to_dict(), indent=2))))
    return page(f"elad run {title}", *body)


def records_table(records: list[RoundRecord]) -> Markup:
    header = [name for name, _, _ in COLUMNS] + ["stop"]
    return table(header, [cells + [stop] for cells, stop in round_rows(records)])


def cost_table(rows: list[dict]) -> Markup:
    total = {key: sum(r[key] for r in rows) for key in
             ("calls", "failed", "input_tokens", "output_tokens", "input_usd",
              "output_usd", "cost_usd")}
    header = ["round", "operation", "calls", "failed", "in tokens", "out tokens",
              "input $", "output $", "total $"]
    return table(header, [
        [r["round"], r["op"], r["calls"], r["failed"], r["input_tokens"],
         r["output_tokens"], f"{r['input_usd']:.4f}", f"{r['output_usd']:.4f}",
         f"{r['cost_usd']:.4f}"] for r in [*rows, {"round": "all", "op": "", **total}]])


def run_plots(records: list[RoundRecord], costs: list[dict]) -> list[Markup]:
    accuracy = line_plot(
        [Series("test accuracy after each round", [r.cost_usd for r in records],
                [r.test_accuracy for r in records], marker="o")],
        Labels("cumulative teacher cost ($)", "test accuracy",
               "Accuracy against teacher cost"))
    rounds = sorted({r["round"] for r in costs})
    per_round = {name: [sum(r[key] for r in costs if r["round"] == round)
                        for round in rounds]
                 for name, key in (("input tokens", "input_usd"),
                                   ("output tokens", "output_usd"))}
    spend = bar_plot([str(r) for r in rounds], per_round,
                     Labels("round", "teacher cost ($)", "Teacher cost per round"),
                     stacked=True)
    return [image(accuracy, "test accuracy against cumulative teacher cost"),
            image(spend, "teacher cost per round, input and output tokens")]


# --- the run at a glance: why it stopped, the budget, accuracy per task, the selection
# diagnostic, and a baseline run to compare with ---------------------------------------

def stop_and_budget_section(store: RunStore, config: RunConfig,
                    records: list[RoundRecord]) -> list[Markup]:
    """Why the run stopped, and the budget spent and left."""
    last = records[-1] if records else None
    if last is None or not last.stop_reason:
        stopped = "The run has not stopped yet" + (
            f" (last finished round: {last.round})." if last else ".")
    else:
        why = why_stopped(config, last)
        confirmed = ("" if last.confirmed_fraction is None else
                     f" The teacher's answer was the student's own on "
                     f"{last.confirmed_fraction:.0%} of round {last.round}'s questions "
                     "(confirmed).")
        stopped = f"Stopped after round {last.round}: {last.stop_reason}: {why}.{confirmed}"
    paid = spending(store, last)
    spent, unconfirmed, batch = (paid["all"], paid["unconfirmed"],
                                 paid["a batch not collected yet"])
    left = max(0.0, config.budget_usd - spent)
    lowered = [] if not lowered_below(spent, config.budget_usd) else [tag("p", (
        f"The budget was lowered to ${config.budget_usd} after ${spent:.4f} was spent "
        "(a way to stop a run): nothing was sent after that."), cls="muted")]
    live = going_on(store.path.parent, last)
    unsure = [] if not unconfirmed else [tag("p", (
        f"${unconfirmed:.4f} of the spent figure is requests in flight (the run is going "
        f"on now, {live}), counted at their worst case until their replies come."
        if live else
        f"${unconfirmed:.4f} of the spent figure is unconfirmed: requests sent before a "
        "kill whose replies never arrived, counted at their worst case (the server may "
        "have billed less)."), cls="unconfirmed")]
    if batch:
        unsure.append(tag("p", (
            f"${batch:.4f} of the spent figure is a batch sent and not collected yet, "
            "counted at its requests' worst case: the server bills it whether or not the "
            "run goes on, and the next `elad run` collects it without sending it again."),
            cls="unconfirmed"))
    if untrained := untrained_round(paid, last):
        unsure.append(tag("p", untrained[0].upper() + untrained[1:] + ".", cls="muted"))
    test_set = store.test_set_totals()
    apart = [] if not test_set["calls"] else [tag("p", (
        f"The spent figure includes the test set: {test_set['calls']} pool questions "
        f"held out and annotated by the teacher for ${test_set['cost_usd']:.4f}, never "
        "trained on; the rounds' cost figures leave it out."), cls="muted")]
    extra = ([["test set $"], [f"{test_set['cost_usd']:.4f}"]] if test_set["calls"]
             else [[], []])
    return [tag("h2", "Stop and budget"), tag("p", stopped, cls="stop"),
            table(["budget $", "spent $", *extra[0], "left $", "spent"],
                  [[f"{config.budget_usd:.4f}", f"{spent:.4f}", *extra[1], f"{left:.4f}",
                    f"{spent / config.budget_usd:.1%}"]]), *lowered, *apart, *unsure]


def task_accuracy_section(records: list[RoundRecord]) -> list[Markup]:
    """Test accuracy per task family after each round."""
    tasks = sorted({t for r in records for t in r.test_accuracy_by_task})
    if not tasks:
        why = ("no round has finished yet" if not records else
               "this run was made before elad recorded per-task accuracy")
        return [tag("h2", "Test accuracy per task"),
                tag("p", f"Not recorded ({why}).", cls="muted")]
    rows = [[r.round, f"{r.cost_usd:.4f}", f"{r.test_accuracy:.3f}",
             *(f"{r.test_accuracy_by_task[t]:.3f}" if t in r.test_accuracy_by_task else "-"
               for t in tasks)] for r in records]
    return [tag("h2", "Test accuracy per task"),
            table(["round", "cost $", "all", *tasks], rows)]


def diagnostic_section(store: RunStore, config: RunConfig) -> list[Markup]:
    """AUROC of each strategy's score for 'the student's greedy answer is wrong', over
    the candidates of each scored round (from the store; nothing is recomputed)."""
    rounds = store.scored_rounds()
    parts = [tag("h2", "Selection diagnostic"),
             tag("p", "Each round's candidates, scored by the previous round's student"
                      + (" (round 0's by the student before training)" if 0 in rounds
                         else "") + ": the AUROC of each strategy's score for 'the "
                      "student's greedy answer is wrong' (0.5 is chance, 1 is perfect).",
                 cls="muted")]
    if not rounds:
        return parts + [tag("p", "No round was scored (the seed round is random).",
                            cls="muted")]
    try:
        found = {r: round_diagnostic(store, config, r) for r in rounds}
    except (FileNotFoundError, ConfigError) as error:  # a dataset no longer at hand
        return parts + [tag("p", f"Not available: {error}", cls="muted")]
    if not any(d.aurocs for d in found.values()):
        return parts + [tag("p", f"Not available: {NOT_AVAILABLE}.", cls="muted")]
    few = [f"round {r} {d.few_known()}" for r, d in found.items() if d.few_known()]
    notes = [tag("p", "; ".join(few), cls="muted")] if few else []  # a partly labeled pool
    return parts + [table(["round", *SCORED], [
        [r, *("-" if d.aurocs[s] is None else f"{d.aurocs[s]:.3f}" for s in SCORED)]
        for r, d in found.items()])] + notes


def baseline_section(records: list[RoundRecord], baseline: Baseline) -> list[Markup]:
    """Both accuracy-vs-cost curves on one plot, and the money saved at equal accuracy."""
    plot = line_plot(
        [Series("this run", [r.cost_usd for r in records],
                [r.test_accuracy for r in records], marker="o"),
         Series(f"baseline: {baseline.name}", [r.cost_usd for r in baseline.records],
                [r.test_accuracy for r in baseline.records], marker="s", dashed=True)],
        Labels("cumulative teacher cost ($)", "test accuracy",
               "Accuracy against teacher cost, this run and the baseline"))
    return [tag("h2", "Against the baseline"),
            tag("p", f"Baseline: {baseline.name}.", cls="muted"),
            image(plot, "test accuracy against cumulative teacher cost, this run and the "
                        "baseline"),
            tag("p", verdict_line(records, baseline), cls="savings")]


