"""The learning-curve forecast and the dollar stop rule, on synthetic curves with known
parameters and on hand-made round records (cost in $, accuracy as a fraction)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from elad.forecast import (Forecast, fit_curve, forecast, forecast_cost_to_reach,
                           should_stop)
from elad.forecast_fit import FORMS

COSTS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # cumulative $ after rounds 0..5


def power_law(a, b, k):
    return lambda c: a - b * np.asarray(c, dtype=float) ** -k


def synthetic_runs(kind, n_runs, n_points, n_test=300, seed=0):
    """Seeded runs: (costs, measured accuracies with binomial noise, true curve, round $).

    Seed round of $0.05-0.3, then equal rounds of $0.05-0.3; accuracy 0.3-0.6 after the
    seed round, asymptote 0.7-0.98; power exponent 0.2-1, or exponential saturation.
    """
    rng = np.random.default_rng(seed)
    for _ in range(n_runs):
        first, step = rng.uniform(0.05, 0.3, size=2)
        costs = first + step * np.arange(n_points)
        a, acc0 = rng.uniform(0.7, 0.98), rng.uniform(0.3, 0.6)
        if kind == "power":
            k = rng.uniform(0.2, 1.0)
            true = power_law(a, (a - acc0) * first ** k, k)
        else:
            rate = rng.uniform(0.25, 1.5) / costs[-1]
            true = (lambda a, acc0, first, rate:
                    lambda c: a - (a - acc0) * np.exp(-rate * (np.asarray(c) - first)))(
                        a, acc0, first, rate)
        measured = rng.binomial(n_test, true(costs)) / n_test
        yield costs, measured, true, step


# The fit: known parameters come back.

def test_fit_recovers_a_noise_free_power_law():
    true = power_law(0.9, 0.12, 0.5)
    curve = fit_curve(COSTS, true(COSTS))
    assert curve.form == "power"
    assert curve.asymptote == pytest.approx(0.9, abs=1e-3)
    assert curve.k == pytest.approx(0.5, abs=1e-2)
    assert curve.gap == pytest.approx(0.12 * 0.6 ** -0.5, abs=1e-3)  # a - acc(spent)
    assert curve.spent_usd == 0.6
    assert curve(1.2) == pytest.approx(float(true(1.2)), abs=1e-3)


def test_fit_recovers_a_noise_free_exponential():
    costs = np.array(COSTS)
    accuracies = 0.85 - 0.3 * np.exp(-2.0 * (costs / 0.6 - 1))
    curve = fit_curve(costs, accuracies, form="exp")
    assert (curve.asymptote, curve.gap, curve.k) == pytest.approx((0.85, 0.3, 2.0), abs=1e-3)


def test_fit_recovers_a_power_law_from_precise_noisy_points():
    # n_test = 100000: about 0.15 points of noise
    rng = np.random.default_rng(3)
    costs = np.linspace(0.1, 0.8, 8)
    true = power_law(0.92, 0.1, 0.6)
    measured = rng.binomial(100_000, true(costs)) / 100_000
    curve = fit_curve(costs, measured, n_test=100_000)
    assert curve.asymptote == pytest.approx(0.92, abs=0.02)
    assert curve.k == pytest.approx(0.6, abs=0.15)
    assert curve(1.6) == pytest.approx(float(true(1.6)), abs=0.01)


def log_logistic(a, g, k, p, spent):
    """The hill form's truth: a - g / (1 - p + p * (c / spent) ** k)."""
    return lambda c: a - g / (1 - p + p * (np.asarray(c, dtype=float) / spent) ** k)


ACCELERATING = log_logistic(0.97, 0.45, 4.0, 0.3, 0.6)  # 0.33 at $0.1, 0.52 at $0.6


def test_fit_recovers_a_noise_free_s_shaped_curve():
    curve = fit_curve(COSTS, ACCELERATING(COSTS), form="hill")
    assert (curve.asymptote, curve.gap, curve.k, curve.p) == pytest.approx(
        (0.97, 0.45, 4.0, 0.3), abs=2e-3)
    assert "/ (1 - 0.300 + 0.300 * (c / 0.6) ** 4.000)" in str(curve)


def test_an_accelerating_run_is_forecast_by_the_s_shaped_form():
    # measured while still speeding up; no saturating form can bend upwards
    f = forecast(COSTS, ACCELERATING(COSTS), 0.1, n_test=300)
    assert f.curve.form == "hill"
    truth = float(ACCELERATING(1.2))  # 0.89: the steep part lies ahead
    assert f.predictions[-1].accuracy.value == pytest.approx(truth, abs=0.01)
    assert f.fits["power"](1.2) < truth - 0.1  # what a power law alone would have said
    reach = forecast_cost_to_reach(f, 0.9)
    assert float(ACCELERATING(reach.value)) == pytest.approx(0.9, abs=1e-3)
    assert reach.low <= reach.value <= reach.high


def test_three_noisy_rounds_are_not_read_as_a_jump_to_the_ceiling():
    """A dip then a rise on 40 test questions (0.075, 0.025, 0.200): the hill curve
    through three points was a step at the last round, forecast 1.00 at twice the spend
    and +13 accuracy per $ for the next round, the point at the top of its own band."""
    f = forecast([0.05, 0.10, 0.15], [0.075, 0.025, 0.200], 0.05, n_test=40)
    assert f.curve.form != "hill" and FORMS.index("hill") not in f.sample_forms
    assert f.predictions[-1].accuracy.value < 0.5
    assert f.gain_per_usd.value < 1.0


def test_the_s_shaped_form_is_not_taken_for_a_power_law_run():
    # it can match a power law (p = 1) but pays for its fourth parameter
    picked = [forecast(c, m, s, n_test=300).curve.form
              for c, m, _, s in synthetic_runs("power", 30, 6, seed=4)]
    assert picked.count("hill") <= 9  # 3 of 30 here


def test_power_law_forecast_on_noisy_runs_is_close_and_its_band_covers_the_truth():
    # 50 runs of 5 rounds, 300 test questions (about 2.5 points of noise per round)
    errors, covered = [], 0
    for costs, measured, true, step in synthetic_runs("power", 50, 5):
        f = forecast(costs, measured, step, n_test=300)
        at_double = f.predictions[-1]
        assert at_double.horizon == 1.0 and at_double.cost_usd == pytest.approx(2 * costs[-1])
        truth = float(true(at_double.cost_usd))
        errors.append(abs(at_double.accuracy.value - truth))
        covered += at_double.accuracy.low <= truth <= at_double.accuracy.high
    assert covered >= 40  # 80% of 50, for a nominal 90% band
    assert np.mean(errors) < 0.045


def test_the_band_also_covers_exponential_saturation():
    # the second form earns its keep: a power law alone covers about a third of these
    covered = 0
    for costs, measured, true, step in synthetic_runs("exp", 50, 5, seed=1):
        f = forecast(costs, measured, step, n_test=300)
        band = f.predictions[-1].accuracy
        covered += band.low <= float(true(2 * costs[-1])) <= band.high
    assert covered >= 40


def test_more_rounds_narrow_the_band():
    widths = {}
    for n in (3, 8):
        runs = synthetic_runs("power", 20, n, seed=2)
        widths[n] = np.mean([(lambda p: p.high - p.low)(
            forecast(c, m, s, n_test=300).predictions[-1].accuracy) for c, m, _, s in runs])
    assert widths[8] < 0.8 * widths[3]


# The forecast object.

def test_forecast_holds_predictions_gain_and_a_grid_that_json_can_write():
    true = power_law(0.9, 0.12, 0.5)
    f = forecast(COSTS, true(COSTS), next_round_cost=0.1, n_test=300)
    assert isinstance(f, Forecast)
    assert [p.horizon for p in f.predictions] == [0.25, 0.5, 1.0]
    assert [p.cost_usd for p in f.predictions] == pytest.approx([0.75, 0.9, 1.2])
    for p in f.predictions:
        assert p.accuracy.low <= p.accuracy.value <= p.accuracy.high
        assert p.accuracy.value == pytest.approx(float(true(p.cost_usd)), abs=0.005)
    values = [p.accuracy.value for p in f.predictions]
    assert values == sorted(values)  # more money, more accuracy
    rise = (true(0.7) - true(0.6)) / 0.1
    assert f.gain_per_usd.value == pytest.approx(float(rise), rel=0.05)
    assert f.gain_per_usd.low <= f.gain_per_usd.value <= f.gain_per_usd.high
    grid = f.grid
    assert grid["cost_usd"][0] == pytest.approx(0.1) and grid["cost_usd"][-1] == pytest.approx(1.2)
    assert all(lo <= v <= hi for lo, v, hi in zip(grid["low"], grid["accuracy"], grid["high"]))
    data = json.loads(json.dumps(f.to_dict(), allow_nan=False))
    assert data["curve"]["form"] == "power" and set(data["fits"]) == {"power", "exp", "hill"}
    assert data["predictions"][2]["cost_usd"] == pytest.approx(1.2)
    assert f.summary().startswith("+25%: 0.76 [") and "acc/$" in f.summary()


def test_forecast_is_deterministic():
    measured = [0.42, 0.55, 0.61, 0.66, 0.68, 0.71]
    one, two = (forecast(COSTS, measured, 0.1, n_test=300) for _ in range(2))
    assert one.to_dict() == two.to_dict()


def test_too_few_rounds_give_no_forecast():
    assert forecast([0.1, 0.2], [0.5, 0.6], 0.1, n_test=300) is None
    assert fit_curve([0.1, 0.2], [0.5, 0.6]) is None
    # a round that cost nothing does not count, nor a repeated cost
    assert forecast([0.0, 0.1, 0.2], [0.3, 0.5, 0.6], 0.1, n_test=300) is None
    assert forecast([0.1, 0.2, 0.2], [0.5, 0.6, 0.61], 0.1, n_test=300) is None
    assert forecast([0.1, 0.2, 0.3], [0.5, 0.6, 0.65], 0.1, n_test=300) is not None
    # without the test size the noise comes from the residuals: a fourth round is needed
    assert forecast([0.1, 0.2, 0.3], [0.5, 0.6, 0.65], 0.1) is None
    assert forecast([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.65, 0.67], 0.1) is not None


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="next_round_cost"):
        forecast(COSTS, [0.5] * 6, 0.0, n_test=300)
    with pytest.raises(ValueError, match="one accuracy per cost"):
        forecast(COSTS, [0.5] * 5, 0.1, n_test=300)


def test_the_module_never_imports_torch():
    code = "import sys, elad.forecast; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# The stop rule on hand-made round records.

FLAT = [0.70, 0.71, 0.70, 0.69, 0.71, 0.70]
STEEP = [0.40, 0.52, 0.60, 0.66, 0.70, 0.73]


def test_a_flat_curve_stops_and_says_why():
    stop, why = should_stop(forecast(COSTS, FLAT, 0.1, n_test=300), 0.1)
    assert stop
    assert why.startswith("stopped:") and "stop_gain_per_usd=0.1" in why
    assert "+100%: 0.70" in why  # what the forecast was


def test_a_steep_curve_goes_on():
    stop, why = should_stop(forecast(COSTS, STEEP, 0.1, n_test=300), 0.1)
    assert not stop
    assert why.startswith("going on:")


def test_too_few_rounds_never_stop():
    f = forecast(COSTS[:2], FLAT[:2], 0.1, n_test=300)
    stop, why = should_stop(f, 1000.0)
    assert f is None and not stop and "no forecast" in why


def test_three_flat_rounds_are_not_enough_to_stop_at_a_strict_threshold():
    # three points pass exactly through either form: the band stays wide
    f = forecast(COSTS[:3], FLAT[:3], 0.1, n_test=300)
    assert not should_stop(f, 0.1)[0]
    assert should_stop(forecast(COSTS, FLAT, 0.1, n_test=300), 0.1)[0]


@pytest.mark.parametrize("measured", [FLAT, STEEP, [0.40, 0.60, 0.68, 0.71, 0.72, 0.725]])
def test_stopping_is_monotone_in_the_threshold_and_the_confidence(measured):
    f = forecast(COSTS, measured, 0.1, n_test=300)
    thresholds = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    decisions = [should_stop(f, x)[0] for x in thresholds]
    assert decisions == sorted(decisions)  # never stops at X, goes on at a higher X
    assert not decisions[0] and decisions[-1]  # nothing is below 0; 3 acc/$ is out of reach
    for x in thresholds:  # more confidence asked, fewer stops
        by_confidence = [should_stop(f, x, confidence=c)[0] for c in (0.5, 0.8, 0.9, 0.99)]
        assert by_confidence == sorted(by_confidence, reverse=True)


def test_the_stop_rule_decides_on_the_optimistic_end_of_the_band():
    f = forecast(COSTS, STEEP, 0.1, n_test=300)
    g = f.gain_per_usd
    assert g.low < g.value < g.high
    between = (g.value + g.high) / 2  # above the point forecast, below its upper bound
    assert not should_stop(f, between)[0]
    assert should_stop(f, g.high * 1.01)[0]


# What budget reaches a target.

def test_cost_to_reach_inverts_the_curve():
    true = power_law(0.9, 0.12, 0.5)
    f = forecast(COSTS, true(COSTS), 0.1, n_test=300)
    reach = forecast_cost_to_reach(f, 0.8)
    assert reach.value == pytest.approx((0.12 / 0.1) ** 2, rel=0.05)  # c = (b / (a - t))^(1/k)
    assert reach.low <= reach.value <= reach.high
    assert forecast_cost_to_reach(f, 0.95) is None  # above the asymptote
    assert forecast_cost_to_reach(f, 0.5).value < f.spent_usd  # already reached


def test_cost_to_reach_is_unbounded_when_refits_never_get_there():
    f = forecast(COSTS[:3], STEEP[:3], 0.1, n_test=300)
    reach = forecast_cost_to_reach(f, 0.95)
    assert reach is not None and reach.high == float("inf")
    assert reach.to_dict()["high"] is None  # JSON has no inf
