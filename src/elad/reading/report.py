"""Reading a run back from its store: the per-round table, and `elad report`'s HTML
page (why it stopped, the budget, per-round metrics and plots, accuracy per task, a
baseline run's curve and the money saved at equal accuracy, the selection diagnostic,
the cost breakdown, and a few selected questions per round with why they were chosen
and what the teacher did). Never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from elad.answers import ANSWER_CUE
from elad.budget import Prices, teacher_prices
from elad.config import ConfigError, RunConfig
from elad.forecast import gain_bound
from elad.reading.html_page import Markup, image, page, table, tag
from elad.reading.plots import Series, bar_plot, line_plot
from elad.pool_scores import round_aurocs
from elad.run_forecast import (
    CONFIDENCE,
    illustrative_threshold,
    prefix_forecasts,
    stop_cost,
    stop_index,
)
from elad.rundir import STORE, RunDir
from elad.store import RunStore
from elad.strategies import RANKING, STRATEGIES
from elad.types import RoundRecord, Score, StopReason, Target

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
    far = max(stored["predictions"], key=lambda p: p["horizon"])
    return f"{far['value']:.2f} [{far['low']:.2f},{far['high']:.2f}]"


def format_table(records: list[RoundRecord], header: bool = True) -> str:
    """Rows of cumulative figures per round (teacher calls, tokens and cost so far)."""
    lines = []
    if header:
        lines.append("  ".join(name.rjust(width) for name, width, _ in COLUMNS))
    for record in records:
        lines.append("  ".join(show(record).rjust(width) for _, width, show in COLUMNS))
    return "\n".join(lines)


def load_records(run_dir: Path) -> list[RoundRecord]:
    with RunDir.open(run_dir) as run:
        return run.store.rounds()


def format_aurocs(aurocs: dict[str, float | None]) -> str:
    """The selection diagnostic, one strategy a line: 0.5 is chance, 1 is perfect."""
    lines = ["AUROC of each strategy's score for 'the student's greedy answer is wrong':"]
    for name, value in aurocs.items():
        lines.append(f"  {name:>16}  {'-' if value is None else f'{value:.3f}'}")
    return "\n".join(lines)


# --- the HTML report of one run -------------------------------------------------------

def write_run_report(run_dir: Path, examples_per_round: int = 3,
                     baseline_dir: Path | None = None) -> Path:
    """Write RUN_DIR/report.html (one self-contained page) from the run's store. The
    baseline run compared against is `baseline_dir`, or, for a run of an `elad bench`
    grid, its random-annotate sibling when there is one."""
    with RunDir.open(run_dir) as run:
        baseline_dir = baseline_dir or bench_baseline(Path(run_dir), run.config)
        baseline = load_baseline(baseline_dir) if baseline_dir else None
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
    summary = (f"strategy {config.strategy}, mode {config.mode}, seed {config.seed}, "
               f"budget ${config.budget_usd}; teacher {config.teacher.kind}, student "
               f"{config.student.kind}. "
               + (f"{len(records)} rounds; stopped: {last.stop_reason or 'not finished'}."
                  if last else "No finished round yet."))
    body = [tag("h1", f"elad run {title}"), tag("p", summary),
            *stop_and_budget_section(store, config, records),
            tag("h2", "Rounds"),
            tag("p", "Figures are cumulative over the run so far; 'confirmed' is the "
                     "fraction of the round's revisions in which the teacher found no "
                     "error.", cls="muted"),
            records_table(records)]
    if records:
        body += run_plots(records, costs)
        body += forecast_section(records, config, len(store.examples("test")))
    body += task_accuracy_section(records)
    if baseline is not None:
        body += baseline_section(records, baseline)
    body += diagnostic_section(store, config)
    body += [tag("h2", "Cost breakdown"), cost_table(costs)]
    body.append(tag("h2", "Selected questions"))
    targets = {t.example_id: t for t in store.targets()}
    for round in sorted({c["round"] for c in calls}):
        selected = store.selection(round) or []
        shown = selected[:examples_per_round]
        body.append(tag("h3", f"Round {round}: {len(selected)} questions sent to the "
                              f"teacher, the first {len(shown)} in selection order"))
        replies = {c["example_id"]: c for c in calls if c["round"] == round}
        scores = store.scores(round)
        for position, qid in enumerate(shown, 1):
            body.append(example_html(store, config, round, position, qid, scores,
                                     replies.get(qid), targets.get(qid)))
    body.append(tag("details", tag("summary", "Configuration"),
                    tag("pre", json.dumps(config.to_dict(), indent=2))))
    return page(f"elad run {title}", *body)


def records_table(records: list[RoundRecord]) -> Markup:
    header = [name for name, _, _ in COLUMNS] + ["stop"]
    return table(header, [[show(r) for _, _, show in COLUMNS] + [r.stop_reason]
                          for r in records])


def cost_rows(calls: list[dict], prices: Prices) -> list[dict]:
    """Teacher calls summed per round and operation; dollars split into input and
    output tokens by the run's prices."""
    rows: dict[tuple[int, str], dict] = {}
    for c in calls:
        row = rows.setdefault((c["round"], c["op"]), {
            "round": c["round"], "op": c["op"], "calls": 0, "failed": 0,
            "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        row["calls"] += 1
        row["failed"] += not c["ok"]
        row["input_tokens"] += c["input_tokens"]
        row["output_tokens"] += c["output_tokens"]
        row["cost_usd"] += c["cost_usd"]
    for row in rows.values():
        row["input_usd"] = prices.cost(row["input_tokens"], 0)
        row["output_usd"] = prices.cost(0, row["output_tokens"])
    return [rows[key] for key in sorted(rows)]


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
        "cumulative teacher cost ($)", "test accuracy", "Accuracy against teacher cost")
    rounds = sorted({r["round"] for r in costs})
    per_round = {name: [sum(r[key] for r in costs if r["round"] == round)
                        for round in rounds]
                 for name, key in (("input tokens", "input_usd"),
                                   ("output tokens", "output_usd"))}
    spend = bar_plot([str(r) for r in rounds], per_round, "round", "teacher cost ($)",
                     "Teacher cost per round", stacked=True)
    return [image(accuracy, "test accuracy against cumulative teacher cost"),
            image(spend, "teacher cost per round, input and output tokens")]


# --- the run at a glance: why it stopped, the budget, accuracy per task, the selection
# diagnostic, and a baseline run to compare with ---------------------------------------

STOP_WHY = {
    StopReason.SATURATED: "the teacher confirmed at least {saturation:.0%} (saturation) of "
                          "the last round's revised explanations: the student's most "
                          "uncertain questions are now right, more teacher money buys "
                          "little",
    StopReason.BUDGET_SPENT: "what is left of the budget does not cover the worst case of "
                             "half a round of teacher requests",
    StopReason.POOL_EXHAUSTED: "the teacher has been asked about every pool question",
    StopReason.MAX_ROUNDS: "max_rounds={max_rounds} rounds after the seed round are done",
    StopReason.LOW_GAIN: "the forecast said the next round buys less than "
                         "stop_gain_per_usd={stop_gain_per_usd} accuracy per dollar",
}


def stop_and_budget_section(store: RunStore, config: RunConfig,
                    records: list[RoundRecord]) -> list[Markup]:
    """Why the run stopped, and the budget spent and left."""
    last = records[-1] if records else None
    if last is None or not last.stop_reason:
        stopped = "The run has not stopped yet" + (
            f" (last finished round: {last.round})." if last else ".")
    else:
        why = STOP_WHY[last.stop_reason].format(
            saturation=config.saturation, max_rounds=config.max_rounds,
            stop_gain_per_usd=config.stop_gain_per_usd)
        confirmed = ("" if last.confirmed_fraction is None else
                     f" The teacher confirmed {last.confirmed_fraction:.0%} of round "
                     f"{last.round}'s revisions.")
        stopped = f"Stopped after round {last.round}: {last.stop_reason}: {why}.{confirmed}"
    spent = store.spent_usd()
    left = config.budget_usd - spent
    return [tag("h2", "Stop and budget"), tag("p", stopped, cls="stop"),
            table(["budget $", "spent $", "left $", "spent"],
                  [[f"{config.budget_usd:.4f}", f"{spent:.4f}", f"{left:.4f}",
                    f"{spent / config.budget_usd:.1%}"]])]


def task_accuracy_section(records: list[RoundRecord]) -> list[Markup]:
    """Test accuracy per task family after each round."""
    tasks = sorted({t for r in records for t in r.test_accuracy_by_task})
    if not tasks:
        return [tag("h2", "Test accuracy per task"),
                tag("p", "Not recorded (this run was made before elad recorded "
                         "per-task accuracy).", cls="muted")]
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
             tag("p", "Each round's candidates, scored by the previous round's student: "
                      "the AUROC of each strategy's score for 'the student's greedy "
                      "answer is wrong' (0.5 is chance, 1 is perfect).", cls="muted")]
    if not rounds:
        return parts + [tag("p", "No round was scored (the seed round is random).",
                            cls="muted")]
    try:
        aurocs = {r: round_aurocs(store, config, r) for r in rounds}
    except (FileNotFoundError, ConfigError) as error:  # a dataset no longer at hand
        return parts + [tag("p", f"Not available: {error}", cls="muted")]
    return parts + [table(["round", *STRATEGIES], [
        [r, *("-" if a[s] is None else f"{a[s]:.3f}" for s in STRATEGIES)]
        for r, a in aurocs.items()])]


@dataclass
class Baseline:
    """Another run to compare with: its name and its per-round records."""

    name: str
    records: list[RoundRecord]


def bench_baseline(run_dir: Path, config: RunConfig) -> Path | None:
    """For a run of an `elad bench` grid (DIR/runs/NAME), its random-annotate sibling
    of the same seed (the classic active-learning baseline), if it is there."""
    sibling = run_dir.parent / f"random-annotate-s{config.seed}"
    if (run_dir.parent.name != "runs" or sibling.resolve() == run_dir.resolve()
            or not (sibling / STORE).exists()):
        return None
    return sibling


def load_baseline(run_dir: Path) -> Baseline:
    """The run in `run_dir`, named by its folder, strategy and mode."""
    with RunDir.open(run_dir) as run:
        config, records = run.config, run.store.rounds()
    finished = "" if records and records[-1].stop_reason else ", not finished"
    return Baseline(f"{Path(run_dir).name} ({config.strategy}, {config.mode}{finished})",
                    records)


def cost_to_reach(records: list[RoundRecord], accuracy: float) -> float | None:
    """The teacher dollars paid by the first round whose test accuracy is at least
    `accuracy` (None if no round reached it)."""
    return next((r.cost_usd for r in records if r.test_accuracy >= accuracy - 1e-9), None)


def equal_accuracy_savings(records: list[RoundRecord], baseline: list[RoundRecord]
                           ) -> tuple[float, float, float] | None:
    """(accuracy, this run's cost, the baseline's cost) at the highest test accuracy
    both runs reached, each paid up to its first round that reached it."""
    if not records or not baseline:
        return None
    level = min(max(r.test_accuracy for r in records),
                max(r.test_accuracy for r in baseline))
    return level, cost_to_reach(records, level), cost_to_reach(baseline, level)


def baseline_section(records: list[RoundRecord], baseline: Baseline) -> list[Markup]:
    """Both accuracy-vs-cost curves on one plot, and the money saved at equal accuracy."""
    plot = line_plot(
        [Series("this run", [r.cost_usd for r in records],
                [r.test_accuracy for r in records], marker="o"),
         Series(f"baseline: {baseline.name}", [r.cost_usd for r in baseline.records],
                [r.test_accuracy for r in baseline.records], marker="s", dashed=True)],
        "cumulative teacher cost ($)", "test accuracy",
        "Accuracy against teacher cost, this run and the baseline")
    savings = equal_accuracy_savings(records, baseline.records)
    if savings is None:
        text = "No finished round to compare yet."
    else:
        level, mine, theirs = savings
        text = (f"Both runs reach test accuracy {level:.3f}: this run after ${mine:.4f} "
                f"of teacher cost, the baseline after ${theirs:.4f}. ")
        if mine <= theirs:
            share = f" ({(theirs - mine) / theirs:.0%} of the baseline's cost)" if theirs \
                else ""
            text += f"Money saved at equal accuracy: ${theirs - mine:.4f}{share}."
        else:
            text += f"This run paid ${mine - theirs:.4f} more for it."
    return [tag("h2", "Against the baseline"),
            tag("p", f"Baseline: {baseline.name}.", cls="muted"),
            image(plot, "test accuracy against cumulative teacher cost, this run and the "
                        "baseline"),
            tag("p", text, cls="savings")]


# --- the forecast: what more teacher money buys (run_forecast.py) ----------------------

def forecast_section(records: list[RoundRecord], config: RunConfig, n_test: int
                     ) -> list[Markup]:
    """The latest forecast against the measured rounds, where the stop rule stops (or
    would), and per round the forecasts and the label-free signals."""
    body = [tag("h2", "Forecast: what more teacher money buys")]
    forecasts = prefix_forecasts(records, n_test, config.budget_usd)
    latest = forecasts[-1]
    if latest is None:
        return body + [tag("p", "No forecast yet: it needs three rounds with teacher cost "
                                "(the seed round and two more).", cls="muted")]
    threshold = config.stop_gain_per_usd or illustrative_threshold(records)
    rule = (f"The stop rule is set: stop_gain_per_usd={threshold:g} (accuracy per $)."
            if config.stop_gain_per_usd else
            "The stop rule is off in this run (stop_gain_per_usd=0); it is shown with "
            + (f"stop_gain_per_usd={threshold:g}, a tenth of the run's mean gain per "
               "dollar after the seed round (for illustration)." if threshold else
               "no threshold: the run has not gained since the seed round."))
    would = "stops" if config.stop_gain_per_usd else "would stop"
    stop = stop_point(records, forecasts, threshold, would) if threshold else None
    body.append(tag("p", f"The curve ({latest.curve.form}: {latest.curve}) is fitted to "
                         f"the test accuracy ({n_test} questions) of all {len(records)} "
                         "rounds against cumulative teacher cost and extended to twice "
                         f"the spend; the band holds {CONFIDENCE:.0%} of the bootstrap "
                         f"refits. {rule} " + (stop[2] if stop else "")))
    series = [Series("measured test accuracy", [r.cost_usd for r in records],
                     [r.test_accuracy for r in records], marker="o"),
              Series(f"forecast after round {records[-1].round} ({CONFIDENCE:.0%} band)",
                     latest.grid["cost_usd"], latest.grid["accuracy"], latest.grid["low"],
                     latest.grid["high"], dashed=True)]
    if stop and stop[0] is not None:
        series.append(Series(f"the rule {would} here (stop_gain_per_usd={threshold:g})",
                             [stop[0]], [stop[1]], marker="*", marker_size=16))
    plot = line_plot(series, "cumulative teacher cost ($)", "test accuracy",
                     "Measured accuracy, the forecast curve and where the rule stops")
    body += [image(plot, "measured accuracy against cost, the fitted forecast curve with "
                         "its band to twice the cost, and where the stop rule stops"),
             forecast_table(records, forecasts)]
    return body


def stop_point(records: list[RoundRecord], forecasts: list, threshold: float, would: str
               ) -> tuple[float | None, float | None, str]:
    """Where the rule at `threshold` stops: (cost, accuracy, a sentence saying which)."""
    index = stop_index(forecasts, threshold)
    if index is not None:
        r = records[index]
        return r.cost_usd, r.test_accuracy, (
            f"It {would} after round {r.round} (${r.cost_usd:.4f}, accuracy "
            f"{r.test_accuracy:.3f}), on that round's forecast.")
    cost = stop_cost(forecasts[-1], threshold)
    if cost is None:
        return None, None, (f"It {would} in none of these rounds, nor within twice the "
                            "spend if the next rounds go as the latest forecast says.")
    accuracy = float(forecasts[-1].curve(cost))
    return cost, accuracy, (f"It {would} in none of these rounds; if the next rounds go as "
                            f"the latest forecast says, it {would} at about ${cost:.4f} "
                            f"(accuracy {accuracy:.3f}).")


def forecast_table(records: list[RoundRecord], forecasts: list) -> Markup:
    """Per round: the forecast made after it, and its label-free signals."""
    def band(e) -> str:
        return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"

    def share(signals: dict | None, key: str) -> str:
        value = (signals or {}).get(key)
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for r, f in zip(records, forecasts):
        predictions = [band(p.accuracy) for p in f.predictions] if f else ["-"] * 3
        rows.append([r.round, f"{r.cost_usd:.4f}", f"{r.test_accuracy:.3f}", *predictions,
                     band(f.gain_per_usd) if f else "-",
                     f"{gain_bound(f, CONFIDENCE):+.3f}" if f else "-",
                     "-" if r.confirmed_fraction is None else f"{r.confirmed_fraction:.2f}",
                     share(r.signals, "agreement"), share(r.signals, "unanimous"),
                     share(r.signals, "uncertain")])
    return Markup(table(
        ["round", "cost $", "test acc", "forecast +25% $", "+50% $", "+100% $",
         "next round: acc per $", f"{CONFIDENCE:.0%} upper", "confirmed", "agreement",
         "unanimous", "uncertain"], rows)
        + tag("p", "Forecasts are made after the round, from it and the rounds before, "
                   f"with {CONFIDENCE:.0%} bands. The label-free signals need no test set; "
                   "they describe the round's candidates as the previous round's student "
                   "explained them: confirmed, the share of the round's revisions the "
                   "teacher found no error in; agreement, the mean of 1 - u_inter over "
                   "the candidates; unanimous, the share whose K answers all agree; "
                   "uncertain, the share whose u(q) reaches the first scored round's "
                   "selection threshold.", cls="muted"))


def explanation_lines(steps: list[str], answer: str | None) -> list[str]:
    """An explanation as the teacher sees it: the answer line is the last step."""
    return [*steps, f"{ANSWER_CUE} {answer if answer is not None else '(none)'}."]


def steps_list(lines: list[str], first: int = 1, wrong: int | None = None,
               unstable: int | None = None) -> Markup:
    """Numbered steps; the first wrong one marked, the ones after it struck out (the
    teacher's continuation replaces them), the least stable one flagged."""
    items = []
    for number, line in enumerate(lines, first):
        classes = []
        if wrong is not None and number == wrong:
            classes.append("wrong")
        if wrong is not None and number > wrong:
            classes.append("dropped")
        if unstable is not None and number == unstable:
            classes.append("unstable")
        items.append(tag("li", line, cls=" ".join(classes) or None))
    return tag("ol", *items, cls="steps", start=first)


def why_selected(config: RunConfig, score: Score, scores: list[Score]) -> Markup:
    """The question's numbers, and its place in its round by the run's strategy."""
    strategy = config.strategy
    if strategy in RANKING:
        mine = RANKING[strategy](score)
        above = sum(RANKING[strategy](s) > mine for s in scores)
        place = (f"ranked {above + 1} of {len(scores)} candidates by {strategy} "
                 f"({mine:.3f})")
    else:
        place = f"drawn at random from {len(scores)} candidates"
    return table(["why", "u(q)", "u_inter", "U_intra", "least conf.", "K answers",
                  "greedy", "least stable step"],
                 [[place, f"{score.u:.3f}", f"{score.u_inter:.3f}",
                   f"{score.u_intra:.3f}", f"{score.least_confidence:.3f}",
                   ", ".join("-" if a is None else a for a in score.answers),
                   "-" if score.greedy_answer is None else score.greedy_answer,
                   score.least_stable_step or "-"]], text_columns=1)


def example_html(store: RunStore, config: RunConfig, round: int, position: int, qid: str,
                 scores: list[Score], call: dict | None, target: Target | None) -> Markup:
    """One selected question: why it was chosen, the student's explanation with its
    first wrong step, the teacher's reply, and what the student is trained on."""
    question = call["request"]["question"] if call else (target.question if target else "")
    parts = [tag("p", f"{position}. ", tag("span", question, cls="question"),
                 tag("span", f"  ({qid})", cls="muted"))]
    score = next((s for s in scores if s.example_id == qid), None)
    if score is not None:
        parts.append(why_selected(config, score, scores))
    request, reply = (call["request"], call["reply"]) if call else ({}, {})
    if request.get("op") == "revise":
        wrong = reply.get("first_error") if call["ok"] else None
        parts += [tag("p", "The student's explanation, as sent to the teacher"
                           + (f" (hint: least stable step {request['hint']})"
                              if request.get("hint") else "") + ":"),
                  steps_list(explanation_lines(request["steps"], request["answer"]),
                             wrong=wrong, unstable=score.least_stable_step if score
                             else None)]
    elif score is not None:
        chosen = store.explanations(round, qid)[score.chosen]
        parts += [tag("p", "The student's explanation (not sent: in annotate mode the "
                           "teacher writes the whole explanation):"),
                  steps_list(explanation_lines(chosen.steps, chosen.answer),
                             unstable=score.least_stable_step)]
    if call is None:
        parts.append(tag("p", "No teacher call recorded.", cls="muted"))
    else:
        parts.append(teacher_reply_html(call))
    if target is not None and request.get("op") == "revise":  # else: the annotation
        parts += [tag("p", "Training target" + (" (the student's own explanation, "
                                                 "confirmed)" if target.confirmed else "")
                      + ":"),
                  steps_list(explanation_lines(target.steps, target.answer))]
    return tag("div", *parts, cls="example")


def teacher_reply_html(call: dict) -> Markup:
    reply = call["reply"]
    cost = (f"{call['input_tokens']} input + {call['output_tokens']} output tokens, "
            f"${call['cost_usd']:.6f}")
    if not call["ok"]:
        return tag("p", f"The teacher's reply could not be used ({call['error']}); {cost}.")
    if call["op"] == "annotate":
        return Markup(tag("p", f"The teacher's explanation ({cost}):")
                      + steps_list(explanation_lines(reply["steps"], reply["answer"])))
    if reply.get("first_error") is None:
        return tag("p", f"The teacher confirmed every step ({cost}).")
    first = reply["first_error"]
    return Markup(tag("p", f"The teacher: step {first} is the first wrong one; its "
                           f"continuation from there ({cost}):")
                  + steps_list(explanation_lines(reply["steps"], reply["answer"]), first))
