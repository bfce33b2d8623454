"""A run's forecast, stop rule and label-free signals, from hand-made round records and
a hand-written store (no model)."""

import dataclasses
import json
import math
import re
import types

import numpy as np
import pytest

from elad.config import RunConfig, load_config
from elad.estimate import by_length, estimate, whole_pool
from elad.forecast import gain_bound
from elad.run_forecast import (
    WholePool,
    forecast_line,
    forecast_record,
    illustrative_threshold,
    label_free_signals,
    next_round_usd,
    plan_text,
    prefix_forecasts,
    rounds_needed,
    rule_stops,
    run_forecast,
    stop_cost,
    stop_index,
)
from elad.rundir import RunDir
from elad.store import RunStore
from elad.types import (
    Example,
    RoundRecord,
    Score,
    StopReason,
    TeacherCall,
    TeacherReply,
)

COSTS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # cumulative $ after rounds 0..5
FLATTENING = [0.40, 0.60, 0.66, 0.685, 0.695, 0.70]  # gains per $: 2, 0.6, 0.25, 0.1, 0.05
STEEP = [0.40, 0.52, 0.60, 0.66, 0.70, 0.73]
FLAT_START = [0.30, 0.30, 0.31, 0.32, 0.34, 0.37]  # not yet begun to learn


def records(accuracies, costs=COSTS):
    return [RoundRecord(i, 10 * (i + 1), 10 * (i + 1), 100, 50, c, a,
                        None if i == 0 else 0.1, "elad", "revise", 0)
            for i, (c, a) in enumerate(zip(costs, accuracies))]


def test_the_next_round_costs_the_last_one_capped_by_the_budget_left():
    assert next_round_usd([0.1, 0.25, 0.3], budget_usd=1.0) == pytest.approx(0.05)
    assert next_round_usd([0.1, 0.25, 0.3], budget_usd=0.32) == pytest.approx(0.02)
    assert next_round_usd([0.1, 0.25, 0.3], budget_usd=0.3) == pytest.approx(0.05)  # spent
    assert next_round_usd([0.1, 0.3, 0.3], budget_usd=1.0) == pytest.approx(0.1)  # mean


def test_the_forecast_needs_three_rounds_and_uses_the_next_rounds_cost():
    assert run_forecast(records(STEEP)[:2], 300, 1.0) is None
    f = run_forecast(records(STEEP)[:4], 300, 0.45)
    assert f.n_points == 4 and f.n_test == 300 and f.spent_usd == 0.4
    assert f.next_round_usd == pytest.approx(0.05)  # $0.10 rounds, $0.05 left
    forecasts = prefix_forecasts(records(STEEP), 300, 10.0)
    assert [f is None for f in forecasts] == [True, True, False, False, False, False]
    assert forecasts[3].predictions[-1].cost_usd == pytest.approx(0.8)


def test_the_stop_rule_on_hand_made_rounds():
    flattening = prefix_forecasts(records(FLATTENING), 300, 10.0)
    steep = prefix_forecasts(records(STEEP), 300, 10.0)
    assert stop_index(steep, 0.1) is None  # still 0.3 accuracy per $ at the end
    # a higher threshold stops sooner; 0.05 per $ is never reached in these rounds
    stops = [stop_index(flattening, x) for x in (0.05, 0.1, 0.3, 1.0, 1000.0)]
    assert stops == [None, 5, 4, 2, 2]
    # it stops at the first round whose optimistic gain per $ is below the threshold
    assert gain_bound(flattening[4]) < 0.3 <= gain_bound(flattening[3])
    assert not rule_stops(flattening[-1], 0.0)  # 0: the rule is off
    assert not rule_stops(None, 1000.0)  # no forecast: go on


def test_where_the_rule_would_stop_by_the_forecast():
    f = run_forecast(records(STEEP), 300, 10.0)
    assert stop_cost(f, gain_bound(f) * 1.01) == f.spent_usd  # stops now
    later = stop_cost(f, 0.2)
    assert f.spent_usd < later <= 2 * f.spent_usd
    assert stop_cost(f, 1e-6) is None  # never within twice the spend
    assert illustrative_threshold(records(STEEP)) == pytest.approx(0.066)  # 0.33/$0.5 / 10
    assert illustrative_threshold(records([0.5, 0.4, 0.45])) is None


def test_the_stored_forecast_is_json_and_says_what_the_rule_decided():
    f = run_forecast(records(FLATTENING), 300, 10.0)
    stored = json.loads(json.dumps(forecast_record(f), allow_nan=False))
    assert stored["gain_per_usd_upper"] == pytest.approx(gain_bound(f), abs=1e-6)
    assert stored["predictions"][-1]["horizon"] == 1.0
    assert len(stored["grid"]["cost_usd"]) == len(stored["grid"]["high"]) > 10
    assert forecast_record(None) is None
    line = forecast_line(stored, 1.0)
    assert f"upper bound {stored['gain_per_usd_upper']:+.3f}, below " \
           "stop_gain_per_usd=1" in line
    assert f"at $1.20 (+100%): {stored['predictions'][-1]['value']:.3f}" in line
    assert "not below stop_gain_per_usd=0.001" in forecast_line(stored, 0.001)
    tiny = {**stored, "predictions": [{**p, "cost_usd": p["cost_usd"] / 500}
                                      for p in stored["predictions"]]}
    assert "at $0.0024 (+100%): " in forecast_line(tiny)  # a tiny run's: not "$0.00"
    assert "below" not in forecast_line(stored)  # the rule is off
    assert forecast_line(None).startswith("none yet")


def test_a_last_round_that_takes_the_budgets_rest_is_not_shown_as_free():
    """At the budget's end the next round costs what is left (a few hundredths of a
    cent), which two decimals showed as "$0.00"."""
    costs = [0.079, 0.128, 0.173, 0.220, 0.2486]
    f = run_forecast(records(FLATTENING[:5], costs), 300, 0.25)
    assert f.next_round_usd == pytest.approx(0.0014)
    assert "the next round ($0.0014) buys" in forecast_line(forecast_record(f))
    plan = plan_text(records(FLATTENING[:5], costs), 300, 0.25)
    assert "the next round ($0.0014) buys" in plan
    # the two bounds a reader meets, each named (the run's line shows the one-sided one)
    assert f"the stop rule's one-sided 90% upper bound {gain_bound(f):+.3f})" in plan


def test_the_plan_prints_the_curve_and_the_cost_to_reach_a_target():
    text = plan_text(records(STEEP), 300, 10.0, target=0.75)
    assert "forecast from 6 rounds ($0.6000 spent, 300 test questions)" in text
    assert "1.2000" in text and "(2x the spend)" in text and "(4x the spend)" in text
    assert "accuracy 0.75: at about $" in text and "set budget_usd" in text
    # the rounds that money takes, beyond the run's max_rounds: said, or the run stops
    # there for good (a user who set budget_usd as told got one round and max rounds)
    reach = float(re.search(r"at about \$(\d+\.\d+)", text).group(1))
    # STEEP's rounds cost $0.10 each; the last one takes what is left (up to two rounds'
    # worth), so 2.5 rounds' money takes 2 more rounds
    more = max(1, math.floor((reach - 0.6) / 0.1))
    assert f"and max_rounds to at least {5 + more} (rounds like the last one, $0.1000 " \
        f"each, the last taking what is left: {more} more after round 5)" in plan_text(
            records(STEEP), 300, 10.0, target=0.75, max_rounds=5)
    assert "max_rounds" not in plan_text(records(STEEP), 300, 10.0, target=0.75,
                                         max_rounds=5 + more)
    three = records([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])  # rounds 0-2 at $0.10 each
    spent = types.SimpleNamespace(spent_usd=0.3)
    assert "at least 4 " in rounds_needed(spent, 0.55, three, 3)  # 2.5 rounds: 2 more
    assert "at least 5 " in rounds_needed(spent, 0.6, three, 3)  # 3 rounds: 3 more
    assert rounds_needed(spent, 0.55, three, 4) == ""
    low = float(re.search(r"band \$(\d+\.\d+) to", text).group(1))
    assert low >= 0.6  # the spend: 0.75 was not measured for less
    assert "levels off" in plan_text(records(FLATTENING), 300, 10.0, target=0.99)
    assert "reached already" in plan_text(records(STEEP), 300, 10.0, target=0.5)
    # a target a round measured is reached, wherever the fitted curve passes (here 0.715
    # at the spend; before: 'at about $... set budget_usd to at least that')
    assert "accuracy 0.73: reached already, measured 0.730 at $0.6000 (round 5)" in \
        plan_text(records(STEEP), 300, 10.0, target=0.73)
    assert plan_text(records(STEEP)[:2], 300, 10.0).startswith("no forecast")
    # a warm student above its rounds before any teacher money: the target was not
    # "beyond what 6 rounds can forecast ... the whole pool is the most worth paying"
    warm = records(STEEP)
    warm[0] = dataclasses.replace(warm[0], accuracy_before=0.9)
    text = plan_text(warm, 300, 10.0, target=0.85)
    assert "accuracy 0.85: reached already, measured 0.900 before any teacher money (the " \
        "start row)" in text and "beyond" not in text


def proposed_dollars(text):
    """Every cost the plan names: its table's rows and its $ figures."""
    rows = re.findall(r"^ +(\d+\.\d+) +\d\.\d{3} ", text, re.MULTILINE)
    return [float(v) for v in rows + re.findall(r"\$(\d+\.\d+)", text)]


def test_the_plan_never_proposes_more_than_annotating_the_whole_pool():
    flat, pool = records(FLAT_START), WholePool(questions=500, usd=1.2)
    unbounded = plan_text(flat, 300, 10.0, target=0.9)  # without the pool's cost
    assert "set budget_usd to at least" in unbounded and max(proposed_dollars(unbounded)) > 2
    for target in (0.9, 0.5, 0.99):  # past the curve's reach, and past its asymptote
        text = plan_text(flat, 300, 10.0, target=target, pool=pool)
        assert max(proposed_dollars(text)) == pytest.approx(1.2)
        assert "beyond what 6 rounds can forecast" in text
        assert "whole pool (500 questions) costs about $1.2000" in text
        assert "set budget_usd to at least" not in text
    table = plan_text(flat, 300, 10.0, pool=pool).splitlines()
    assert table[-3].split()[0] == "1.2000" and "the whole pool" in table[-3]  # its end
    # the whole pool at (about) 2x the spend, $0.6: one row of it, not two of "1.2000"
    table = plan_text(flat, 300, 10.0, pool=WholePool(500, 1.20004)).splitlines()
    assert [row.split()[0] for row in table].count("1.2000") == 1


def test_a_flat_run_still_answers_for_the_target():
    flat, pool = records([0.30, 0.30, 0.30]), WholePool(questions=500, usd=1.2)
    text = plan_text(flat, 300, 10.0, target=0.7, pool=pool)
    assert text.startswith("no forecast of a gain from 3 rounds")
    # (it said nothing of the target)
    assert "accuracy 0.7: beyond what 3 rounds can forecast (no gain is forecast)" in text
    assert "whole pool (500 questions) costs about $1.2000" in text
    assert "reached already, measured 0.300" in plan_text(flat, 300, 10.0, target=0.3)


def test_a_target_reached_within_the_whole_pool_is_planned_as_before():
    steep = records(STEEP)
    before = plan_text(steep, 300, 10.0, target=0.75)
    assert plan_text(steep, 300, 10.0, target=0.75, pool=WholePool(500, 5.0)) == before
    assert "set budget_usd to at least" in before


def test_the_whole_pool_costs_what_is_paid_plus_the_rest_at_the_mean_annotation(tmp_path):
    config = load_config(None, [])
    store = RunStore(tmp_path / "run.sqlite")
    store.add_examples("pool", [Example(q, "t", f"What is {i} + 1?")
                                for i, q in enumerate("abcde")])
    assert whole_pool(store, config) == WholePool(5, pytest.approx(
        5 * estimate(config, [f"What is {i} + 1?" for i in range(5)]).annotation.expected))
    for qid, op, usd in [("a", "annotate", 0.02), ("b", "annotate", 0.04),
                         ("c", "revise", 0.10)]:
        store.save_teacher_call(qid, 1, qid, {}, TeacherReply(op, None, ["x"], "1", 9, 9), usd)
    assert whole_pool(store, config) == WholePool(5, pytest.approx(0.16 + 2 * 0.03))
    store.close()


def test_the_whole_pool_prices_the_questions_left_by_their_length(tmp_path):
    """A targeted run annotates the long questions: their mean cost put its whole pool
    15-22% above what annotating it cost (a random run's: within 1%)."""
    store = RunStore(tmp_path / "run.sqlite")
    questions = {qid: "Q" * (20 + 10 * i) for i, qid in enumerate("abcdefghij")}
    store.add_examples("pool", [Example(qid, "t", q) for qid, q in questions.items()])
    cost = {qid: 0.001 + 0.0001 * len(q) for qid, q in questions.items()}
    for qid in "acgij":  # the longest most: by their mean, b, d, e, f, h cost .008 each
        store.save_teacher_call(qid, 1, qid, {"question": questions[qid]},
                                TeacherReply("annotate", None, ["x"], "1", 9, 9), cost[qid])
    assert whole_pool(store, load_config(None, [])) == WholePool(10, pytest.approx(
        sum(cost.values())))
    store.close()
    # a steep line through a narrow range of lengths: each question priced within the
    # costs seen (the line priced a hundred shorter questions at $0, longer ones at 10x)
    lengths, costs = [100, 100, 100, 100, 101], [.001, .0012, .0011, .001, .0016]
    narrow = [TeacherCall(1, str(i), "annotate", {"question": "Q" * n}, None, 9, 9, usd,
                          True, "") for i, (n, usd) in enumerate(zip(lengths, costs))]
    assert by_length(narrow, [50] * 100) == pytest.approx(100 * .001)
    assert by_length(narrow, [150] * 100) == pytest.approx(100 * .0016)
    falling = [dataclasses.replace(c, cost_usd=usd) for c, usd in zip(
        narrow, [.002, .002, .002, .002, .001])]  # noise: the mean, not a falling line
    assert by_length(falling, [600] * 10) == pytest.approx(10 * .0018)


def test_label_free_signals_from_the_scores(tmp_path):
    store = RunStore(tmp_path / "run.sqlite")

    def score(qid, u_inter, u, answers):
        return Score(qid, u_inter, 0.0, u, 0, None, answers)

    # round 1: the threshold is the u of the 2nd most uncertain candidate (round_size 2)
    store.save_scoring(1, {}, {}, [score("a", 1.0, 0.9, ["1", "2"]),
                                   score("b", 0.0, 0.6, ["3", "3"]),
                                   score("c", 0.0, 0.2, [None, None]),
                                   score("d", 0.5, 0.1, ["4", "4"])])
    store.save_scoring(2, {}, {}, [score("e", 0.0, 0.7, ["5", "5"]),
                                   score("f", 0.0, 0.1, ["6", "6"])])
    assert label_free_signals(store, 0, 2) is None  # the seed round scores nothing
    first = label_free_signals(store, 1, round_size=2)
    assert first == {"candidates": 4, "agreement": 0.625, "unanimous": 0.5,
                     "uncertain": 0.5, "u_threshold": 0.6}
    assert label_free_signals(store, 2, round_size=2) == {
        "candidates": 2, "agreement": 1.0, "unanimous": 1.0, "uncertain": 0.5,
        "u_threshold": 0.6}
    store.close()


def test_runs_made_before_the_forecast_stay_readable_and_resumable(tmp_path):
    config = load_config(None, [])
    old = json.loads(config.to_json())
    del old["stop_gain_per_usd"]  # the stored config of a run made before the key
    store = RunStore(tmp_path / "run.sqlite")
    store.set_meta("config", json.dumps(old, sort_keys=True))
    record = records(STEEP)[0].__dict__ | {"stop_reason": ""}
    del record["forecast"], record["signals"]
    store.db.execute("INSERT INTO rounds VALUES (0, ?)", (json.dumps(record),))
    store.db.execute("INSERT INTO teacher_calls VALUES ('h', 0, 'q', 'annotate', '{}', "
                     "'reply', 10, 10, 0.1, 1, '', NULL)")  # a paid run, not started over
    store.db.commit()
    store.close()
    with RunDir.create(tmp_path, config) as run:  # the same config, read with defaults
        (again,) = run.store.rounds()
    assert again.forecast is None and again.signals is None
    assert again.stop_reason == StopReason.NOT_STOPPED
    assert RunConfig().stop_gain_per_usd == 0  # off unless set
    assert np.isclose(again.cost_usd, COSTS[0])


def test_a_falling_accuracy_is_not_forecast_to_rise():
    """AQuA in a helper's run: 0.180, 0.120, 0.080. The only learning curve through them
    is flat at their mean, which the plan showed as 0.117 at 1.25x the spend, above the
    accuracy just measured, beside a gain of +0.000 per $."""
    from elad.reading.report import forecast_cell

    falling = records([0.18, 0.12, 0.08], [0.029, 0.058, 0.0867])
    outlook = run_forecast(falling, 50, 1.0)
    assert outlook.curve.flat and not run_forecast(records(STEEP), 300, 10.0).curve.flat
    text = plan_text(falling, 50, 1.0, target=0.3)
    assert "the test accuracy has not risen with the spend (0.180 at $0.0290, 0.080 at " \
           "$0.0867 now)" in text
    assert "the spend)" not in text and "0.117" not in text  # no table of the mean
    stored = forecast_record(outlook)
    line = forecast_line(stored, 0.5)
    assert line.startswith("the test accuracy has not risen with the spend: the next round")
    assert "stop_gain_per_usd=0.5" in line and " at $" not in line
    assert forecast_cell(stored) == "flat"
