"""Why a run stops (docs/concepts.md, "The stop"): every reason, decided here and only here.

After each round the run stops when the latest verdicts show, with 90% confidence, that
the teacher answers at least `saturation` of such questions as the student did (the
student's most uncertain ones: what is left to teach changes no answer): this round's
verdicts, and the rounds' before it if it had fewer than `saturation_window`
(SATURATED; `saturation=1` never stops), when every pool question has been asked about
(POOL_EXHAUSTED), when what is left of the budget does not cover one more request at
what the last round paid per request (BUDGET_SPENT), after `max_rounds` rounds
(MAX_ROUNDS), or when the forecast says the next round's dollars buy too little
(LOW_GAIN, `stop_gain_per_usd`, run_forecast.rule_stops). The forecast rule comes last:
it is named only when it ends a run that could go on. A round whose selection comes out
empty (no request fits in what is left) ends the run too, for its budget.

The rule is made once per run and asked by the loop after each round, by `RunDir.
save_config` when a grown run decides whether its last round still stops it, and by
`elad bench` for a forked seed round.
"""

from __future__ import annotations

from dataclasses import dataclass

from elad.adaptive import verdicts
from elad.budget import Budget, Prices, mean_cost, teacher_prices
from elad.config import RunConfig
from elad.forecast import Forecast
from elad.run_forecast import CONFIDENCE, rule_stops
from elad.store import RunStore
from elad.teacher import make_teacher
from elad.teacher.gateway import annotate_request, unasked, worst_case_cost
from elad.teacher.protocol import Teacher
from elad.types import Example, RoundRecord, StopReason


@dataclass
class StopRule:
    """The stop rule of the run of `config` (its store, pool, and the teacher and prices
    whose worst case the budget reserves)."""

    config: RunConfig
    store: RunStore
    pool: list[Example]
    teacher: Teacher
    prices: Prices

    @classmethod
    def of(cls, config: RunConfig, store: RunStore, pool: list[Example]) -> StopRule:
        """The rule with the teacher and prices `config` names."""
        return cls(config, store, pool, make_teacher(config.teacher, config.task),
                   teacher_prices(config.teacher))

    def __call__(self, record: RoundRecord, outlook: Forecast | None = None,
                 selected: bool = True) -> StopReason:
        """Why the run stops after `record`'s round, or NOT_STOPPED; `outlook` is the
        forecast made after it. `selected=False`: the next round selected nothing (no
        request fit in the budget), which ends the run whatever else holds."""
        config = self.config
        if selected and saturated(self.store, record.round, config.saturation,
                                  config.saturation_window):
            return StopReason.SATURATED
        unlabeled = unasked(self.store, self.pool)
        if selected and not unlabeled:
            return StopReason.POOL_EXHAUSTED
        if not selected or not self.next_round_fits(record.round, unlabeled):
            return StopReason.BUDGET_SPENT
        if record.round >= config.max_rounds:
            return StopReason.MAX_ROUNDS
        if rule_stops(outlook, config.stop_gain_per_usd):
            return StopReason.LOW_GAIN
        return StopReason.NOT_STOPPED

    def next_round_fits(self, round: int, unlabeled: list[Example]) -> bool:
        """Whether what is left of the budget covers one request at what round `round`
        paid per request (before any: the cheapest worst case among the questions not
        asked yet). Priced at what was paid, not at the worst case, so a strategy whose
        questions are longer does not stop a round earlier; one request, not half a
        round, so every strategy spends its budget to within a request's cost (the
        rounds plan at expected costs: when the replies cost more, a last short round
        takes what is left)."""
        per_request = mean_cost(self.store.teacher_calls(round))
        if per_request is None:
            labels = self.config.task.labels
            per_request = min(worst_case_cost(self.teacher, self.prices,
                                              annotate_request(self.teacher, e, labels))
                              for e in unlabeled)
        budget = Budget(self.config.budget_usd, self.store.spent_usd())
        return budget.fits(per_request)


def saturated(store: RunStore, round: int, saturation: float, window: int) -> bool:
    """Whether the saturation rule at theta `saturation`, judged on at least `window`
    verdicts, stops the run after `round`; theta 1 is the rule switched off (`elad
    bench` replays it on runs that went on to their budget)."""
    return surely_saturated(confirmed_counts(store, round, window), saturation)


def surely_saturated(counts: tuple[int, int] | None, saturation: float) -> bool:
    """Whether `counts` (confirmed, verdicts) show, with CONFIDENCE (90%), that the
    teacher would confirm at least theta `saturation` of such questions: the one-sided
    exact (Clopper-Pearson) lower bound of the share is at least theta. The share itself
    would stop a run by chance: a student right on 83% of its questions has 45 of 50
    confirmed one round in eight; the bound asks 49 of 50 at theta 0.9."""
    if saturation >= 1 or counts is None:
        return False
    from scipy.stats import binomtest  # here: scipy.stats takes 0.6 s to import, and
    # the dry run and `elad init` import this module without ever judging a round
    confirmed, total = counts
    interval = binomtest(confirmed, total, alternative="greater").proportion_ci(
        confidence_level=CONFIDENCE, method="exact")
    return interval.low >= saturation


def confirmed_counts(store: RunStore, round: int, least: int) -> tuple[int, int] | None:
    """How many of the teacher's verdicts found the student right, and of how many: over
    round `round`'s replies and the rounds' before it until there are `least` (None
    while the rounds after the seed round have fewer)."""
    found: list[bool] = []
    for earlier in range(round, 0, -1):
        found += round_verdicts(store, earlier)
        if len(found) >= least:
            return sum(found), len(found)
    return None


def round_verdicts(store: RunStore, round: int) -> list[bool]:
    """Per usable reply of `round` (after the seed round), whether the teacher found the
    student right, a question the student did not answer counting as not (its share is
    the round record's `confirmed_fraction`)."""
    return [bool(right) for right in verdicts(store, round).values()]


def fewest_left(config: RunConfig, round: int) -> int:
    """The fewest requests' money round `round` may leave unspent: a round that would
    leave less takes the rest instead (budget.round_quota). Before the last round, half
    a round: a round of a few questions would still train the student for a whole round
    (more steps on the same data), and its accuracy would not be bought with teacher
    money. The last round (`max_rounds`) has no round after it to spend what it leaves,
    so it takes the rest when that is less than one more round's worth (at most twice
    `round_size`): every strategy spends the same money whatever its questions cost,
    and a budget far above what `max_rounds` rounds buy stays unspent."""
    if round >= config.max_rounds:
        return config.round_size
    return max(1, config.round_size // 2)


def stop(store: RunStore, record: RoundRecord, reason: StopReason) -> None:
    """Store `record` again, now ending the run for `reason`."""
    record.stop_reason = reason
    store.save_round(record)
