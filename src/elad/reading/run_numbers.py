"""The numbers of one run's report, read from its store (the page is report.py): the
round records, teacher cost per round and operation, and the comparison with a baseline
run at equal accuracy. Never imports torch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from elad.budget import Prices, teacher_prices
from elad.config import ConfigError
from elad.reading.curves import cost_to_reach
from elad.rundir import RunDir
from elad.types import RoundRecord, TeacherCall


def load_records(run_dir: Path) -> list[RoundRecord]:
    with RunDir.open(run_dir) as run:
        return run.store.rounds()


def cost_rows(calls: list[TeacherCall], prices: Prices) -> list[dict]:
    """Teacher calls summed per round and operation; the dollars recorded split into
    input and output in the shares `prices` give their tokens (so the two add up to
    what was billed, the Batch API's discount on some calls and not others included)."""
    rows: dict[tuple[int, str], dict] = {}
    for c in calls:
        row = rows.setdefault((c.round, c.op), {
            "round": c.round, "op": c.op, "calls": 0, "failed": 0,
            "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        row["calls"] += 1
        row["failed"] += not c.ok
        row["input_tokens"] += c.input_tokens
        row["output_tokens"] += c.output_tokens
        row["cost_usd"] += c.cost_usd
    for row in rows.values():
        parts = prices.cost(row["input_tokens"], 0), prices.cost(0, row["output_tokens"])
        scale = row["cost_usd"] / sum(parts) if sum(parts) > 0 else 0.0
        if abs(scale - 1) < 1e-9:  # billed at these prices: their parts as they are
            scale = 1.0
        row["input_usd"], row["output_usd"] = parts[0] * scale, parts[1] * scale
    return [rows[key] for key in sorted(rows)]



@dataclass
class Baseline:
    """Another run to compare with: its name, its per-round records, and what a reader of
    the comparison must know (`load_baseline`)."""

    name: str
    records: list[RoundRecord]
    notes: list[str] = field(default_factory=list)



def load_baseline(run_dir: Path, against: RunDir) -> Baseline:
    """The run in `run_dir`, named by its folder, strategy and mode; a ConfigError if
    its test set is not that of the run `against` (accuracies on two test sets compare
    nothing). A baseline that paid other prices has its rounds' tokens priced as the run
    pays them (dollars at two prices compare nothing either); one of another seed is not
    paired with the run: both said in its notes."""
    if Path(run_dir).resolve() == against.path.resolve():
        raise ConfigError(f"--baseline {run_dir} is this run itself; a baseline is "
                          "another run of the same task and test set, such as one with "
                          "strategy=random mode=annotate")
    with RunDir.open(run_dir) as run:
        config, records = run.config, run.store.rounds()
        theirs = {e.question for e in run.store.examples("test")}
    mine = {e.question for e in against.store.examples("test")}
    if theirs != mine:
        raise ConfigError(f"--baseline {run_dir}: its test set is not this run's "
                          f"({len(theirs & mine)} of this run's {len(mine)} test questions "
                          "in it), so their accuracies do not compare; a baseline is a run "
                          "of the same task and test set (the same task settings and seed)")
    finished = "" if records and records[-1].stop_reason else ", not finished"
    baseline = Baseline(f"{Path(run_dir).name} ({config.strategy}, {config.mode}"
                        f"{finished})", records)
    prices = teacher_prices(against.config.teacher)
    if not priced_at(records, prices):
        baseline.records = [replace(r, cost_usd=prices.cost(r.teacher_input_tokens,
                                                            r.teacher_output_tokens))
                            for r in records]
        baseline.notes.append(
            "The baseline paid other teacher prices (another model, the Batch API, prices "
            "changed): its dollars here are its tokens at this run's prices, "
            f"${prices.input_per_mtok:g} / ${prices.output_per_mtok:g} per million input / "
            "output tokens.")
    if not priced_at(against.store.rounds(), prices):
        baseline.notes.append("This run paid other prices for some of its rounds (the "
                              "Batch API turned on or off): its dollars mix them.")
    if config.seed != against.config.seed:
        baseline.notes.append(
            f"The baseline's seed is {config.seed}, this run's {against.config.seed}: "
            "their seed rounds (and any sampled pool) differ, so part of the gap may be "
            "the seed's.")
    return baseline


def priced_at(records: list[RoundRecord], prices: Prices) -> bool:
    """Whether every round of `records` paid its tokens at `prices` (what a run's dollars
    are, whatever its config says now: batch on or off, a price table since changed)."""
    return all(abs(r.cost_usd - prices.cost(r.teacher_input_tokens,
                                            r.teacher_output_tokens))
               <= 1e-9 + 1e-6 * r.cost_usd for r in records)


def equal_accuracy_savings(records: list[RoundRecord], baseline: list[RoundRecord]
                           ) -> tuple[float, float, float] | None:
    """(accuracy, this run's cost, the baseline's cost) at the highest test accuracy
    both runs reached, each paid up to its first round that reached it."""
    if not records or not baseline:
        return None
    level = min(max(r.test_accuracy for r in records),
                max(r.test_accuracy for r in baseline))
    return level, cost_to_reach_in(records, level), cost_to_reach_in(baseline, level)


def cost_to_reach_in(records: list[RoundRecord], accuracy: float) -> float | None:
    return cost_to_reach([r.cost_usd for r in records], [r.test_accuracy for r in records],
                         accuracy)

