"""Every reason a run stops, one per test, decided by the run's one stop rule on
hand-made round records (a real store and the oracle teacher's worst case)."""

import asyncio
import dataclasses

import pytest

from elad.teacher.gateway import annotate_request
from elad.budget import teacher_prices
from elad.config import load_config
from elad.forecast import forecast
from elad.stopping import StopRule, stop
from elad.store import RunStore
from elad.tasks import load_task
from elad.teacher.gateway import worst_case_cost
from elad.teacher.oracle import OracleTeacher
from elad.types import RoundRecord, StopReason

from conftest import TINY


def record(round=1, confirmed=None):
    return RoundRecord(round=round, n_labeled=20, teacher_calls=4, teacher_input_tokens=1,
                       teacher_output_tokens=1, cost_usd=0.01, test_accuracy=0.5,
                       confirmed_fraction=confirmed, strategy="elad", mode="revise", seed=0)


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
        request = annotate_request(rule.teacher, e)
        reply = asyncio.run(rule.teacher.complete(request, None))
        rule.store.save_teacher_call(request.key, 0, e.id, request.as_dict(), reply, cost)


def test_a_round_that_could_go_on_does(rule):
    assert rule()(record()) == StopReason.NOT_STOPPED


def test_saturated_when_the_teacher_confirms_enough(rule):
    stop_rule = rule("saturation=0.75")
    assert stop_rule(record(confirmed=0.75)) == StopReason.SATURATED
    assert stop_rule(record(confirmed=0.7)) == StopReason.NOT_STOPPED


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
                                   annotate_request(stop_rule.teacher, e))
                   for e in stop_rule.pool[1:])
    # spent so that exactly one of the cheapest fits, then a little more
    ask(stop_rule, stop_rule.pool[:1], cost=0.5 - cheapest)
    assert stop_rule(record()) == StopReason.NOT_STOPPED
    ask(stop_rule, stop_rule.pool[1:2], cost=1e-6)
    assert stop_rule(record()) == StopReason.BUDGET_SPENT


def test_budget_spent_when_the_next_round_selected_nothing(rule):
    # an empty selection ends the run for its budget, whatever else holds
    assert rule()(record(confirmed=1.0), selected=False) == StopReason.BUDGET_SPENT


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
    stop_rule = rule("stop_gain_per_usd=0.05")
    assert stop_rule(record(round=2, confirmed=0.95), flat) == StopReason.SATURATED
    assert stop_rule(record(round=2), flat) == StopReason.MAX_ROUNDS


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
