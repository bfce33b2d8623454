"""Every reason a run stops, one per test, decided by the run's one stop rule on
hand-made round records (a real store and the oracle teacher's worst case)."""

import asyncio
import dataclasses

import pytest

from elad.teacher.gateway import annotate_request
from elad.budget import teacher_prices
from elad.config import load_config
from elad.forecast import forecast
from elad.stopping import StopRule, confirmed_counts, stop, surely_saturated
from elad.store import RunStore
from elad.tasks import load_task
from elad.teacher.gateway import worst_case_cost
from elad.teacher.oracle import OracleTeacher
from elad.types import RoundRecord, Score, StopReason, TeacherReply

from conftest import TINY


def record(round=1):
    return RoundRecord(round=round, n_labeled=20, teacher_calls=4, teacher_input_tokens=1,
                       teacher_output_tokens=1, cost_usd=0.01, test_accuracy=0.5,
                       confirmed_fraction=None, strategy="elad", mode="revise", seed=0)


@pytest.fixture
def rule(tmp_path):
    """The stop rule of a TINY run (max_rounds=2, budget $0.5) with nothing asked yet."""
    def make(*overrides):
        config = load_config(None, [*TINY, *overrides])
        store = RunStore(tmp_path / f"run{len(overrides)}.sqlite")
        pool = load_task(config.task, config.seed).pool
        store.add_examples("pool", pool)
        return StopRule.of(config, store, pool)
    return make


def ask(rule, examples, cost=0.0):
    """Record a teacher call about each example, `cost` dollars each."""
    for e in examples:
        request = annotate_request(rule.teacher, e, ())
        reply = asyncio.run(rule.teacher.complete(request, None))
        rule.store.save_teacher_call(request.key, 0, e.id, request.as_dict(), reply, cost)


def verdicts(rule, round, right, wrong=0):
    """Record `right` revisions of round `round` that kept the student's answer, then
    `wrong` that corrected it: the teacher's verdicts on the student's explanations."""
    ids = [f"q{round}-{i}" for i in range(right + wrong)]
    rule.store.save_scoring(round, {}, {}, [
        Score(qid, 0.0, 0.0, 0.0, 0, None, ["1" if i < right else "2"])
        for i, qid in enumerate(ids)])
    for i, qid in enumerate(ids):
        reply = TeacherReply("revise", None if i < right else 1, ["x"], "1", 1, 1)
        rule.store.save_teacher_call(f"{round}-{i}", round, qid, {}, reply, 0.0)


def test_a_round_that_could_go_on_does(rule):
    assert rule()(record()) == StopReason.NOT_STOPPED


def test_saturated_when_the_verdicts_show_theta_with_90_percent_confidence(rule):
    """45 of 50 confirmed is 90%, but a student right on 83% of its questions does that
    one round in eight; the rule stops on 49 of 50 (its bound 0.924), not on 48 (0.897)."""
    stop_rule = rule("saturation=0.9", "saturation_window=50", "max_rounds=9")
    verdicts(stop_rule, 1, right=45, wrong=5)
    assert confirmed_counts(stop_rule.store, 1, 50) == (45, 50)
    assert stop_rule(record(round=1)) == StopReason.NOT_STOPPED
    verdicts(stop_rule, 2, right=48, wrong=2)
    assert stop_rule(record(round=2)) == StopReason.NOT_STOPPED
    verdicts(stop_rule, 3, right=49, wrong=1)
    assert stop_rule(record(round=3)) == StopReason.SATURATED


def test_theta_1_never_stops_even_when_the_teacher_confirms_everything(rule):
    stop_rule = rule("saturation=1", "saturation_window=1", "max_rounds=9")
    verdicts(stop_rule, 1, right=80)
    assert confirmed_counts(stop_rule.store, 1, 1) == (80, 80)
    assert stop_rule(record(round=1)) == StopReason.NOT_STOPPED


def test_a_small_round_is_judged_with_the_rounds_before_it(rule):
    """Theta is judged on at least `saturation_window` verdicts: the latest round's, and
    the rounds' before it while there are fewer."""
    stop_rule = rule("saturation=0.7", "saturation_window=30", "max_rounds=9")
    verdicts(stop_rule, 1, right=7, wrong=3)
    verdicts(stop_rule, 2, right=10)
    assert surely_saturated((10, 10), 0.7)  # round 2 alone would stop the run
    assert stop_rule(record(round=2)) == StopReason.NOT_STOPPED  # 17 of 20: too few
    verdicts(stop_rule, 3, right=6, wrong=4)
    assert stop_rule(record(round=3)) == StopReason.NOT_STOPPED  # 23 of 30: bound 0.64
    verdicts(stop_rule, 4, right=10)
    assert stop_rule(record(round=4)) == StopReason.SATURATED  # rounds 2-4: 26 of 30
    # rounds 2-4 are the first that hold the window's 30 verdicts
    assert confirmed_counts(stop_rule.store, 4, 30) == (26, 30)
    assert confirmed_counts(stop_rule.store, 4, 31) == (33, 40)
    assert confirmed_counts(stop_rule.store, 4, 41) is None


def test_the_bound_needs_more_verdicts_the_closer_theta_is_to_1():
    assert not surely_saturated((8, 8), 0.9)  # 8 of 8 could be chance at 75%
    assert surely_saturated((30, 30), 0.9)
    assert not surely_saturated(None, 0.1)  # too few verdicts to judge
    assert not surely_saturated((100, 100), 1.0)  # theta 1: off


def test_pool_exhausted_when_every_question_was_asked(rule):
    stop_rule = rule()
    ask(stop_rule, stop_rule.pool[:-1])
    assert stop_rule(record()) == StopReason.NOT_STOPPED
    ask(stop_rule, stop_rule.pool[-1:])
    assert stop_rule(record()) == StopReason.POOL_EXHAUSTED


def test_budget_spent_when_not_one_more_of_the_cheapest_fits(rule):
    """Not half a round: the run goes on while one request fits, so that every strategy
    spends its budget to within a request's cost."""
    stop_rule = rule()
    cheapest = min(worst_case_cost(stop_rule.teacher, stop_rule.prices,
                                   annotate_request(stop_rule.teacher, e, ()))
                   for e in stop_rule.pool[1:])
    # spent so that exactly one of the cheapest fits, then a little more
    ask(stop_rule, stop_rule.pool[:1], cost=0.5 - cheapest)
    assert stop_rule(record()) == StopReason.NOT_STOPPED
    ask(stop_rule, stop_rule.pool[1:2], cost=1e-6)
    assert stop_rule(record()) == StopReason.BUDGET_SPENT


def test_budget_spent_when_the_next_round_selected_nothing(rule):
    # an empty selection ends the run for its budget, whatever else holds
    stop_rule = rule()
    verdicts(stop_rule, 1, right=50)
    assert stop_rule(record()) == StopReason.SATURATED
    assert stop_rule(record(), selected=False) == StopReason.BUDGET_SPENT


def test_max_rounds_after_the_last_round(rule):
    assert rule()(record(round=2)) == StopReason.MAX_ROUNDS
    assert rule("max_rounds=3")(record(round=2)) == StopReason.NOT_STOPPED


def test_low_gain_when_the_forecast_says_the_next_dollar_buys_too_little(rule):
    flat = forecast([1, 2, 3, 4], [0.5, 0.52, 0.51, 0.52], 1, n_test=200)
    rising = forecast([1, 2, 3, 4], [0.2, 0.4, 0.5, 0.55], 1, n_test=200)
    stop_rule = rule("stop_gain_per_usd=0.05")
    assert stop_rule(record(), flat) == StopReason.LOW_GAIN
    assert stop_rule(record(), rising) == StopReason.NOT_STOPPED
    assert stop_rule(record()) == StopReason.NOT_STOPPED  # no forecast yet
    assert rule()(record(), flat) == StopReason.NOT_STOPPED  # the rule is off by default


def test_reasons_are_checked_in_order(rule):
    # saturation first, the forecast rule last: it is named only when nothing else ends
    # a run that could go on
    flat = forecast([1, 2, 3, 4], [0.5, 0.52, 0.51, 0.52], 1, n_test=200)
    stop_rule = rule("stop_gain_per_usd=0.05", "saturation_window=1")
    assert stop_rule(record(round=2), flat) == StopReason.MAX_ROUNDS
    verdicts(stop_rule, 2, right=30)
    assert stop_rule(record(round=2), flat) == StopReason.SATURATED


def test_the_rule_reads_the_teacher_the_config_names(rule):
    stop_rule = rule("teacher.max_output_tokens=300")
    assert isinstance(stop_rule.teacher, OracleTeacher)
    assert stop_rule.teacher.max_output_tokens == 300
    assert stop_rule.prices == teacher_prices(stop_rule.config.teacher)


def test_stop_stores_the_record_with_its_reason(rule):
    stop_rule = rule()
    stored = record(round=0)
    stop_rule.store.save_round(stored)
    stop(stop_rule.store, dataclasses.replace(stored), StopReason.BUDGET_SPENT)
    assert stop_rule.store.rounds()[-1].stop_reason == StopReason.BUDGET_SPENT
