"""A run's forecast and label-free signals, from its round records and store: what the
loop stores with each round, what `stop_gain_per_usd` decides on, and what the report,
`elad plan` and benchmarks/forecast_bench.py replay. The curve itself is forecast.py's.

The forecast after a round is fitted to every round so far (cumulative teacher cost,
test accuracy; round 0 included, so the first one comes after round 2) with n_test the
test set size; the next round is expected to cost what the last one did, capped by what
is left of the budget. The stop rule (`stop_gain_per_usd=X`, accuracy per dollar: 0.05
is five points for one more dollar) stops when the optimistic end (the 90% quantile) of
the next round's forecast gain per dollar is below X (`forecast.should_stop`).

Label-free signals, per round, from the round's candidates as the previous round's
student scored them (they need no test set): `agreement`, the mean of 1 - u_inter
(1 when the K answers agree on every candidate); `unanimous`, the share of candidates
whose K answers are one parsed answer; `uncertain`, the share whose u(q) is at least
`u_threshold`, the selection threshold of the first scored round (the u(q) of the
round_size-th most uncertain candidate there, the last one ELAD sends when the budget
allows): b/m in that round by construction, falling as the student grows sure of more
questions. A fixed threshold, because each round's own one selects b/m of its
candidates whatever the student knows. The teacher's confirmed fraction is the round
record's. Never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from elad.budget import rough_usd, usd
from elad.forecast import (
    FLAT_GAP,
    Forecast,
    ForecastOptions,
    forecast,
    forecast_cost_to_reach,
    gain_bound,
    should_stop,
)
from elad.store import RunStore
from elad.types import RoundRecord

CONFIDENCE = 0.9  # of the stop rule's bound and of every band the run shows
ILLUSTRATIVE_FRACTION = 0.1  # the report's threshold when the rule is off (see below)


def next_round_usd(costs: list[float], budget_usd: float) -> float:
    """What the next round is expected to cost: the last round's cost (the mean round's
    if that was nothing), capped by what is left of the budget."""
    step = costs[-1] - costs[-2] if len(costs) > 1 else 0.0
    if step <= 0:
        step = costs[-1] / len(costs)
    left = budget_usd - costs[-1]
    return min(step, left) if left > 0 else step


def run_forecast(records: list[RoundRecord], n_test: int | None, budget_usd: float
                 ) -> Forecast | None:
    """The forecast after the last of `records` (None before three rounds with cost;
    with n_test unknown, None or 0, before four: the noise is then read from the fit)."""
    costs = [r.cost_usd for r in records]
    if not costs or costs[-1] <= 0:
        return None
    return forecast(costs, [r.test_accuracy for r in records],
                    next_round_usd(costs, budget_usd), n_test=n_test or None,
                    options=ForecastOptions(confidence=CONFIDENCE))


def prefix_forecasts(records: list[RoundRecord], n_test: int | None, budget_usd: float
                     ) -> list[Forecast | None]:
    """The forecast the run had after each of its rounds (a replay, from the records)."""
    return [run_forecast(records[:i + 1], n_test, budget_usd) for i in range(len(records))]


def rule_stops(outlook: Forecast | None, threshold: float) -> bool:
    """Whether `stop_gain_per_usd=threshold` stops the run on this forecast (0: off)."""
    return threshold > 0 and should_stop(outlook, threshold, CONFIDENCE)[0]


def stop_index(forecasts: list[Forecast | None], threshold: float) -> int | None:
    """The index of the first round after which the rule would stop, or None."""
    return next((i for i, f in enumerate(forecasts) if rule_stops(f, threshold)), None)


def stop_cost(outlook: Forecast, threshold: float) -> float | None:
    """Where the rule would stop if the next rounds went as this forecast says: the first
    cost, from the spend to twice it, whose next round's gain per dollar (optimistic
    end, as the rule takes it) is below `threshold`; None if none is. With more rounds
    the band narrows, so the rule may stop there sooner than this says."""
    spent, step = outlook.spent_usd, outlook.next_round_usd
    costs = np.array([spent, *(c for c in outlook.grid["cost_usd"] if c > spent)])
    gains = (outlook.sample_curves(costs + step) - outlook.sample_curves(costs)) / step
    point = (outlook.curve(costs + step) - outlook.curve(costs)) / step
    upper = np.maximum(point, np.quantile(gains, CONFIDENCE, axis=0, method="inverted_cdf"))
    below = np.flatnonzero(upper < threshold)
    return float(costs[below[0]]) if below.size else None


def illustrative_threshold(records: list[RoundRecord]) -> float | None:
    """A threshold to show the rule with when the run has none: a tenth of the run's
    mean gain per dollar after the seed round (stop when a dollar buys a tenth of what
    the average one did); None when the run has not gained."""
    first, last = records[0], records[-1]
    if last.cost_usd <= first.cost_usd or last.test_accuracy <= first.test_accuracy:
        return None
    mean_gain = (last.test_accuracy - first.test_accuracy) / (last.cost_usd - first.cost_usd)
    return float(f"{ILLUSTRATIVE_FRACTION * mean_gain:.2g}")


def forecast_record(outlook: Forecast | None) -> dict | None:
    """The forecast as stored with its round: `Forecast.to_dict()` and the optimistic
    gain per dollar the stop rule compares with its threshold."""
    if outlook is None:
        return None
    return {**outlook.to_dict(),
            "gain_per_usd_upper": round(gain_bound(outlook, CONFIDENCE), 6)}


def stored_flat(stored: dict) -> bool:
    """Whether a stored forecast's curve is flat (forecast.Curve.flat): its level is the
    rounds' mean, not a forecast to show."""
    return stored["curve"]["gap"] < FLAT_GAP


def forecast_line(stored: dict | None, threshold: float = 0.0) -> str:
    """A stored forecast in one line, for `elad run`'s last line."""
    if stored is None:
        return "none yet (it needs three rounds with teacher cost)"
    gain, upper = stored["gain_per_usd"]["value"], stored["gain_per_usd_upper"]
    flat = stored_flat(stored)
    text = ((NOT_RISEN + ": " if flat else "")
            + f"the next round ({usd(stored['next_round_usd'])}) buys {gain:+.3f} accuracy "
            f"per $ ({stored['confidence']:.0%} upper bound {upper:+.3f}")
    if threshold > 0:
        text += f", {'below' if upper < threshold else 'not below'} " \
                f"stop_gain_per_usd={threshold:g}"
    if flat:  # the flat curve's level is the rounds' mean, not a forecast to show
        return text + ")"
    far = max(stored["predictions"], key=lambda p: p["horizon"])
    return (text + f"); at {rough_usd(far['cost_usd'])} (+{far['horizon']:.0%}): "
            f"{far['value']:.3f} [{far['low']:.3f}, {far['high']:.3f}]")


NOT_RISEN = "the test accuracy has not risen with the spend"
PLAN_MULTIPLES = (1.25, 1.5, 2.0, 3.0, 4.0)  # of the spend, in `elad plan`'s table


@dataclass(frozen=True)
class WholePool:
    """Annotating every question of the run's pool: the most a budget is worth, whatever
    a forecast says (a curve fitted to a flat start can ask for thousands of dollars)."""

    questions: int
    usd: float  # the run's teacher cost in all once every pool question is bought
    # (estimate.whole_pool)


def plan_text(records: list[RoundRecord], n_test: int | None, budget_usd: float,
              target: float | None = None, pool: WholePool | None = None,
              max_rounds: int | None = None) -> str:
    """`elad plan`: the forecast curve as a small table (cost -> accuracy with band) and
    the cost to reach `target`, from the run's rounds so far (and the `max_rounds` that
    money needs); with the `pool`'s cost, neither goes beyond it."""
    outlook = run_forecast(records, n_test, budget_usd)
    if outlook is None:
        return (f"no forecast: {len(records)} round(s) measured; it needs three rounds "
                "with teacher cost (the seed round and two more)")
    spent, conf = outlook.spent_usd, f"{CONFIDENCE:.0%}"
    if outlook.curve.flat:
        first, last = records[0], records[-1]
        text = (f"no forecast of a gain from {outlook.n_points} rounds: {NOT_RISEN} "
                f"({first.test_accuracy:.3f} at ${first.cost_usd:.4f}, "
                f"{last.test_accuracy:.3f} at ${last.cost_usd:.4f} now); the learning curve "
                "that fits them best is flat, so more rounds like these are forecast to "
                "buy nothing. A student that has not yet begun to learn may learn later: "
                "a forecast cannot say when")
        if target is None:
            return text
        return f"{text}\n" + (measured_reach(records, target) or beyond_text(
            outlook, target, pool, "no gain is forecast"))
    lines = [(f"forecast from {outlook.n_points} rounds (${spent:.4f} spent, {n_test} test "
              f"questions): {outlook.curve.form} curve {outlook.curve}"),
             f"  {'cost $':>9}  {'accuracy':>8}  {conf} band",
             f"  {spent:9.4f}  {records[-1].test_accuracy:8.3f}  (measured)"]
    rows = {m * spent: f"{m:g}x the spend" for m in PLAN_MULTIPLES}
    if pool is not None and pool.usd < max(rows):  # the table stops at the whole pool
        # (a row the pool's would print as the same figure goes: "0.0124" twice)
        rows = {c: why for c, why in rows.items() if c < pool.usd - 5e-5}
        rows[pool.usd] = f"the whole pool, {pool.questions} questions"
    for (cost, why), e in zip(rows.items(), outlook.at(list(rows))):
        lines.append(f"  {cost:9.4f}  {e.value:8.3f}  [{e.low:.3f}, {e.high:.3f}]  ({why})")
    gain = outlook.gain_per_usd
    lines.append(f"the next round ({usd(outlook.next_round_usd)}) buys {gain.value:+.3f} "
                 f"accuracy per $ ({conf} band [{gain.low:+.3f}, {gain.high:+.3f}]; "
                 f"the stop rule's one-sided {conf} upper bound "
                 f"{gain_bound(outlook, CONFIDENCE):+.3f})")
    if target is not None:
        lines.append(reach_text(outlook, target, pool, records, max_rounds))
    lines.append("a forecast from few rounds is rough (its band holds the doubt); a run "
                 "whose student has not yet begun to learn a skill it will learn later "
                 "is forecast too low")
    return "\n".join(lines)


def reach_text(outlook: Forecast, target: float, pool: WholePool | None = None,
               records: list[RoundRecord] = (), max_rounds: int | None = None) -> str:
    """What it costs to reach `target` accuracy: reached, if one of `records` measured
    it (the fitted curve may pass below), else by the forecast, in a line or two;
    never more than the whole `pool` costs. With the run's `max_rounds`, a budget that
    needs more rounds than it allows says so (else the run stops at max_rounds)."""
    if reached := measured_reach(records, target):
        return reached
    reach = forecast_cost_to_reach(outlook, target)
    if reach is None:
        return beyond_text(outlook, target, pool, "the forecast curve levels off at "
                           f"{outlook.curve.asymptote:.3f}")
    if reach.value <= outlook.spent_usd:
        return f"accuracy {target:g}: reached already, by the forecast curve"
    if pool is not None and reach.value > pool.usd:
        return beyond_text(outlook, target, pool, "by the forecast curve it costs more "
                           "than annotating the whole pool")
    high = ("never" if reach.high == float("inf") else
            "more than the whole pool" if pool is not None and reach.high > pool.usd else
            f"${reach.high:.4f}")
    low = max(reach.low, outlook.spent_usd)  # not measured so far: not below the spend
    return (f"accuracy {target:g}: at about ${reach.value:.4f} of teacher cost in all "
            f"({CONFIDENCE:.0%} band ${low:.4f} to {high}): set budget_usd to at least "
            "that" + rounds_needed(outlook, reach.value, records, max_rounds))


def rounds_needed(outlook: Forecast, cost: float, records: list[RoundRecord],
                  max_rounds: int | None) -> str:
    """", and max_rounds to at least N ..." when rounds like the last one reach `cost`
    only after `max_rounds`; "" when they do before it (or it is not known). The last
    round takes what is left when that is less than two rounds' worth
    (stopping.fewest_left), so 2.5 rounds' money takes 2 rounds, 3 takes 3."""
    if max_rounds is None or not records:
        return ""
    step = next_round_usd([r.cost_usd for r in records], float("inf"))  # not capped
    more = max(1, math.floor((cost - outlook.spent_usd) / step + 1e-9))
    last = records[-1].round
    if last + more <= max_rounds:
        return ""
    return (f", and max_rounds to at least {last + more} (rounds like the last one, "
            f"{usd(step)} each, the last taking what is left: {more} more after round "
            f"{last})")


def measured_reach(records: list[RoundRecord], target: float) -> str | None:
    """The first round that measured `target` accuracy, in a line, or the student
    before any teacher money (a warm or pretrained one may start above its rounds);
    None if none did."""
    start = records[0].accuracy_before if records else None
    if start is not None and start >= target:
        return (f"accuracy {target:g}: reached already, measured {start:.3f} before any "
                "teacher money (the start row)")
    measured = next((r for r in records if r.test_accuracy >= target), None)
    if measured is None:
        return None
    return (f"accuracy {target:g}: reached already, measured {measured.test_accuracy:.3f} "
            f"at ${measured.cost_usd:.4f} (round {measured.round})")


def beyond_text(outlook: Forecast, target: float, pool: WholePool | None, why: str) -> str:
    """A target the rounds so far cannot forecast a cost for, and what caps the budget."""
    text = f"accuracy {target:g}: beyond what {outlook.n_points} rounds can forecast ({why})"
    if pool is None:
        return text
    return (text + f"\n  annotating the whole pool ({pool.questions} questions) costs "
            f"about ${pool.usd:.4f} in all: that is the most worth paying")


def label_free_signals(store: RunStore, round: int, round_size: int) -> dict | None:
    """The round's label-free signals (module doc); None when it scored no candidates
    (round 0, annotate-only seed)."""
    scores = store.scores(round)
    scored = store.scored_rounds()
    if not scores or not scored:
        return None
    first = store.scores(scored[0])  # highest u first
    threshold = first[min(round_size, len(first)) - 1].u
    unanimous = [len(set(s.answers)) == 1 and s.answers[0] is not None for s in scores
                 if s.answers]
    return {"candidates": len(scores),
            "agreement": round6(float(np.mean([1 - s.u_inter for s in scores]))),
            "unanimous": round6(float(np.mean(unanimous))) if unanimous else None,
            "uncertain": round6(float(np.mean([s.u >= threshold for s in scores]))),
            "u_threshold": round6(threshold)}


def round6(value: float) -> float:
    return round(float(value), 6)
