"""The `stopped:` line that `elad run`, `elad report` and `elad plan` end with: why the
run stopped (or that it goes on now), what it spent and what of that the rounds shown
leave out, and the forecast. Never imports torch."""

from __future__ import annotations

from pathlib import Path

from elad.lock import running
from elad.reading.report_summary import (
    lowered_below,
    spending,
    stop_words,
    untrained_round,
    worst_case_note,
)
from elad.run_forecast import forecast_line
from elad.rundir import RunDir, stored_config
from elad.types import StopReason


def going_on(run_dir: Path, last) -> str:
    """Who runs the run now (lock.running), unless its `last` round stopped it: "" then,
    or when no one does."""
    return running(run_dir) if not (last and last.stop_reason) else ""


def report_stop_line(run_dir: Path, records: list) -> str:
    """`elad report`'s last line: why the run stopped, what it spent, the forecast."""
    config = stored_config(run_dir)
    last = records[-1] if records else None
    live = going_on(run_dir, last)
    state = f"going on now ({live})" if live else "stopped: not finished"
    if config is None:
        return f"{state}; no round yet"
    if last is None:  # money may be spent all the same: the seed round's, the test set's
        return (f"{state}; no round yet; "
                f"{spent_text(run_dir, None, config.budget_usd, bool(live))}")
    return (f"{state if live else 'stopped: ' + stop_words(last.stop_reason)}; "
            f"{spent_text(run_dir, last, config.budget_usd, bool(live))}; forecast: "
            f"{forecast_line(last.forecast, config.stop_gain_per_usd)}")


def spent_text(run_dir: Path, last, budget: float, live: bool = False) -> str:
    """Everything the budget has paid, what the rounds shown leave out of it, and the
    budget (one lowered below what was spent, to stop a run, says so). Of a run going on
    now (`live`), what its requests in flight hold is "in flight", not "unconfirmed"."""
    with RunDir.open(run_dir) as rundir:
        paid = spending(rundir.store, last)
        worst_cases = worst_case_note(rundir.store)
    if untrained := untrained_round(paid, last):  # a round after the last one
        paid[f"round {last.round + 1}"] = paid.pop("a round not finished")
    held = held_note(paid["unconfirmed"], last) if not live else ""
    if live:
        paid["in flight"] = paid.pop("unconfirmed")
    spent = paid.pop("all")
    detail = ", ".join(f"{what} ${usd:.4f}" for what, usd in paid.items() if usd >= 5e-5)
    shown = f"the rounds shown ${last.cost_usd:.4f}, " if last else ""
    of_budget = (f", more than the ${budget} the budget was lowered to after"
                 if lowered_below(spent, budget) else f" of ${budget}")
    return (f"spent ${spent:.4f}" + (f" ({shown}{detail})" if detail else "") + of_budget
            + "".join(f"; {note}" for note in (untrained, held, worst_cases) if note))


def held_note(unconfirmed: float, last) -> str:
    """What a run that stopped for its budget says of the requests a kill lost: they
    hold their worst case for good, which may be what stopped it; "" otherwise."""
    if unconfirmed < 5e-5 or last is None or last.stop_reason != StopReason.BUDGET_SPENT:
        return ""
    return (f"the requests whose replies never arrived (a kill, a crash) hold their worst "
            f"case (${unconfirmed:.4f}) for good, as they may have been billed (the "
            "teacher's bill says what they cost): a higher budget_usd goes on")
