"""Prices from the table or the config, and a budget that counts requests in flight."""

import pytest

from elad.budget import Budget, Prices, table_prices, teacher_prices
from elad.config import ConfigError, load_config


def test_price_table_finds_the_longest_known_name():
    assert table_prices("gpt-4o") == Prices(2.5, 10.0)
    assert table_prices("gpt-4o-mini") == Prices(0.15, 0.6)
    assert table_prices("gpt-4o-2024-08-06") == Prices(2.5, 10.0)
    assert table_prices("openai/gpt-4.1-mini") == Prices(0.4, 1.6)
    assert table_prices("gpt-4") is None and table_prices("llama-3-8b") is None


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
