"""Prices from the table or the config, and a budget that counts requests in flight."""

import asyncio

import pytest

from elad.budget import Allowance, Budget, Prices, table_prices, teacher_prices
from elad.config import ConfigError, load_config
from elad.stopping import fewest_left


def test_price_table_finds_the_longest_known_name():
    assert table_prices("gpt-4o") == Prices(2.5, 10.0)
    assert table_prices("gpt-4o-mini") == Prices(0.15, 0.6)
    assert table_prices("gpt-4o-2024-08-06") == Prices(2.5, 10.0)
    assert table_prices("openai/gpt-4.1-mini") == Prices(0.4, 1.6)
    assert table_prices("gpt-4") is None and table_prices("llama-3-8b") is None
    assert table_prices("claude-3-5-haiku-20241022") == Prices(0.8, 4.0)
    assert table_prices("gemini-2.0-flash-001") == table_prices("gemini-2.0-flash")
    assert table_prices("claude-sonnet-4-latest") == Prices(3.0, 15.0)
    # a typo or another model of the family is not priced as its prefix
    assert table_prices("gpt-4o-mni") is None and table_prices("gpt-4o-audio") is None
    assert table_prices("gemini-2.5-flash-lite") is None


def test_configured_prices_win_and_unknown_models_need_them():
    assert teacher_prices(load_config(None, ["teacher.model=gpt-5-mini"]).teacher) == \
        Prices(0.25, 2.0)
    config = load_config(None, ["teacher.model=my-local", "teacher.price_input_per_mtok=0",
                                "teacher.price_output_per_mtok=0"])
    assert teacher_prices(config.teacher) == Prices(0.0, 0.0)
    partial = load_config(None, ["teacher.price_output_per_mtok=12"])
    assert teacher_prices(partial.teacher) == Prices(2.5, 12.0)
    with pytest.raises(ConfigError, match="not in the price table; set teacher.price_in"):
        teacher_prices(load_config(None, ["teacher.model=my-local"]).teacher)
    with pytest.raises(ConfigError, match=r"teacher.price_input_per_mtok=-2.0 must be in "
                       r"\[0, 10000.0\] or -1"):
        load_config(None, ["teacher.price_input_per_mtok=-2"])


def test_reservations_count_against_what_is_left():
    budget = Budget(1.0)
    budget.reserve(0.6)
    assert budget.fits(0.4) and not budget.fits(0.41)
    budget.settle(0.6, 0.25)
    assert budget.spent == 0.25 and budget.reserved == 0 and budget.left == 0.75


# --- equal money: plan with expected costs, the worst case as the hard cap (issue 24) --

from elad.budget import mean_cost, mean_output_tokens, round_quota, typical_costs  # noqa: E402
from elad.strategies import within_budget  # noqa: E402
from types import SimpleNamespace  # noqa: E402


def call(op, output_tokens, cost=0.001, ok=True):  # what a TeacherCall has of these
    return SimpleNamespace(op=op, output_tokens=output_tokens, cost_usd=cost, ok=ok)


def test_typical_costs_use_the_mean_output_of_past_replies_of_the_same_kind():
    calls = [call("annotate", 40), call("annotate", 60), call("revise", 10),
             call("revise", 999, ok=False)]
    assert mean_output_tokens(calls) == {"annotate": 50, "revise": 10}
    assert mean_cost(calls) == 0.001 and mean_cost([]) is None

    class Request:
        def __init__(self, op, prompt):
            self.op, self.prompt = op, prompt

    prices = Prices(1e6, 1e6)  # a dollar a token: costs read as token counts
    costs = typical_costs({"a": Request("annotate", "one two three"),
                            "r": Request("revise", "x"),
                            "new": Request("other", "y")}, calls, prices)
    assert costs == {"a": 3 + 50, "r": 1 + 10}  # an op never replied to: left out


def test_selection_plans_with_expected_costs_and_keeps_one_worst_case_in_hand():
    worst = {q: 1.0 for q in "abcdef"}
    expected = {q: 0.25 for q in "abcdef"}
    # worst cases alone: 2 of them fit in 2.0 dollars
    assert within_budget(list("abcdef"), 10, worst.get, 2.0) == ["a", "b"]
    # expected: 0.25 each, plus one question's margin (0.75) kept for the last one sent
    chosen = within_budget(list("abcdef"), 10, worst.get, 2.0, expected=expected.get)
    assert chosen == ["a", "b", "c", "d", "e"]
    assert sum(expected[q] for q in chosen) + 0.75 <= 2.0
    # an expected cost above the worst case counts as the worst case
    assert within_budget(list("ab"), 10, worst.get, 1.5, expected={"a": 3, "b": 3}.get) \
        == ["a"]


def test_the_last_round_takes_the_rest_of_the_budget():
    assert round_quota(50, 25, left=1.0, per_request=0.01) == 50  # 50 left after: go on
    assert round_quota(50, 25, left=0.74, per_request=0.01) > 10**6  # 24 after: take all
    assert round_quota(50, 25, left=0.76, per_request=0.01) == 50  # 26 after: a round more
    assert round_quota(50, 25, left=1.0, per_request=0.0) == 50  # a free teacher
    config = load_config(None, ["round_size=50", "max_rounds=4"])
    # a round may leave half a round for the next; the last, one round (no next)
    assert (fewest_left(config, 3), fewest_left(config, 4)) == (25, 50)


@pytest.mark.parametrize("strategy, mode", [("random", "annotate"), ("elad", "auto")])
def test_each_strategy_spends_its_budget_to_within_one_request(tmp_path, strategy, mode):
    from conftest import TINY
    from elad.loop import run

    budget = 0.03
    config = load_config(None, [*TINY, f"strategy={strategy}", f"mode={mode}",
                                f"budget_usd={budget}", "max_rounds=20"])
    from elad.store import RunStore

    records, teacher = run(config, tmp_path)
    assert records[-1].stop_reason == "budget spent"
    with RunStore(tmp_path / "run.sqlite") as store:
        calls = store.teacher_calls()
    worst_request = max(teacher.prices.cost(c.input_tokens, config.teacher.max_output_tokens)
                        for c in calls)  # the worst case of the run's dearest request
    spent = records[-1].cost_usd  # cumulative
    assert budget - worst_request <= spent <= budget  # the budget is a hard cap


def test_requests_waiting_on_each_other_for_money_do_not_wait_forever():
    """Two requests in flight hold their first attempts' worst cases and both need more
    for a retry than is left: neither can free money while it waits (a run hung here),
    so the second to wait gives up at once, and the first goes on with what it frees."""
    async def scenario():
        budget, settled = Budget(11.0), asyncio.Condition()
        a, b = (Allowance(budget, Prices(1e6, 0.0), settled) for _ in range(2))  # $1/token
        assert await a.ensure(4, 0) and await b.ensure(4, 0)  # both in flight, $3 left
        a.use(4, 0)
        retry = asyncio.create_task(a.ensure(4, 0))  # a's retry needs $4 more
        await asyncio.sleep(0)
        assert not retry.done()  # b may still free money
        b.use(1, 0)
        assert await asyncio.wait_for(b.ensure(8, 0), 5) is False
        await b.settle(1.0)  # b's request ends: $3 of its hold freed
        assert await asyncio.wait_for(retry, 5)
        assert budget.left == pytest.approx(11 - 1 - 8)

    asyncio.run(scenario())
