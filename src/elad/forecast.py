"""What more teacher money buys: a learning curve fitted to a run's rounds, its forecast,
and a stop rule in dollars. Pure numpy and scipy (the report imports it; never torch).
The fits themselves are forecast_fit.py's; how well the forecast does is measured in
BENCHMARKS.md ("The forecast", with the commands).

Units: costs in dollars (cumulative teacher cost after a round), accuracies as fractions
in [0, 1], marginal gains in accuracy per dollar (0.05 per $: five points for one more $).

The curve. With s the money spent so far (the largest cost measured) and x = c / s:

    power:  acc(c) = a - g * x ** -k                  (inverse power law)
    exp:    acc(c) = a - g * exp(-k * (x - 1))        (exponential saturation)
    hill:   acc(c) = a - g / (1 - p + p * x ** k)     (log-logistic: S-shaped in cost)

a is the asymptote, g the gap (a minus the curve's accuracy at s: what is still to
gain), k the exponent or rate; written around s so that a and g are accuracies in
[0, 1] whatever the prices. hill is the logistic in log-cost (Hill, Morgan-Mercer-Flodin)
with its lower end at a - g / (1 - p); p = 1 is the power law. Bounds: a and g in
[0, 1]; k in K_RANGE; p in P_RANGE.

Why these forms: learning curves of supervised models are well described by power laws
(Hestness et al. 2017; Rosenfeld et al. 2020; Viering & Loog 2022), and teacher dollars
are, to first order, labeled examples. A power law bends hardest at the first dollars,
so a run still rising about linearly is covered by the exponential with a small rate.
A small student can learn a skill all at once (slow rounds, a jump, a plateau), which
neither can bend up to; the S-shaped curves of learning-curve extrapolation (Domhan et
al. 2015) can. hill has four parameters, so it is a candidate from four rounds on
(through three it is a step wherever it likes, and reads a noisy dip then rise as a jump
to 1.0).

The point forecast is the form with the lowest chi-square (in units of the measurement
noise) plus its PENALTY: 0 for the power law, 2 for the exponential (it must fit clearly
better), 4 for hill (about the 95% likelihood-ratio test for one more parameter). A run
still slow before its jump cannot be forecast by any curve: the forecast stays too low.

Few points: a forecast needs three rounds with distinct positive costs (four without
n_test); below that `forecast` returns None and the stop rule goes on.
Costs of zero are left out (the power law has no value at 0).

Noise: each accuracy has the binomial standard error over n_test questions (p smoothed
as (k + 1) / (n + 2)), scaled up by sqrt(chi2 / dof) when the fit leaves larger
residuals (with four rounds or more; never down). Without n_test the noise is read from
the residuals (floored at NOISE_FLOOR).

The band: a parametric bootstrap over the forms. An equal share of the draws are new
accuracies around each candidate form's fit; each draw is refitted with every form and
the best kept (hill paying REFIT_PENALTY's 2: refitted freely it reads noise on a flat
run as the start of a jump, and the stop rule would never stop). A band is the central
`confidence` interval of the refits, widened to hold the point forecast; the draws come
from a seeded generator, so a forecast is deterministic. Not the fit's covariance: with
three to eight points and parameters at their bounds it is poor or singular. Not
resampling points: a resample of three to eight points leaves the curve undetermined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from elad.budget import rough_usd, usd
from elad.forecast_fit import (
    FORMS,
    MIN_POINTS,
    basis,
    binomial_error,
    bootstrap,
    choose_forms,
    evaluate,
    fit_form,
    measured_points,
    noise_per_point,
    solve_x,
)

N_BOOTSTRAP = 400  # refits for the band
GRID_POINTS = 41  # samples of the curve for plots, from the first cost to 2x spent


@dataclass(frozen=True)
class ForecastOptions:
    """How a forecast is made: the horizons forecast at (fractions of the money spent so
    far: 0.5 is at 1.5x the spend), the central probability of every band, the bootstrap
    refits and their seed."""

    horizons: tuple[float, ...] = (0.25, 0.5, 1.0)
    confidence: float = 0.9
    n_bootstrap: int = N_BOOTSTRAP
    seed: int = 0


FLAT_GAP = 1e-4  # a gap below a hundredth of a point: a flat curve


@dataclass(frozen=True)
class Curve:
    """A fitted curve: acc(c) = asymptote - gap * basis(c / spent_usd) (module doc)."""

    form: str  # "power", "exp" or "hill"
    asymptote: float
    gap: float  # asymptote minus the curve's accuracy at spent_usd
    k: float  # power and hill: exponent; exp: rate per spent_usd
    spent_usd: float
    p: float = 1.0  # hill only: the share of the power law (1: the power law itself)

    @property
    def flat(self) -> bool:
        """Whether the fit is flat: no curve of rising accuracy fits the rounds better
        than their mean (the accuracy has not risen with the spend)."""
        return self.gap < FLAT_GAP

    def __call__(self, cost_usd):
        """Accuracy at the given cumulative cost(s), dollars."""
        x = np.asarray(cost_usd, dtype=float) / self.spent_usd
        return self.asymptote - self.gap * basis(self.form, x, self.k, self.p)

    def __str__(self) -> str:
        a, g, k, x = f"{self.asymptote:.3f}", f"{self.gap:.3f}", f"{self.k:.3f}", \
            f"c / {self.spent_usd:.4g}"
        if self.form == "power":
            return f"{a} - {g} * ({x}) ** -{k}"
        if self.form == "exp":
            return f"{a} - {g} * exp(-{k} * ({x} - 1))"
        q = f"{self.p:.3f}"
        return f"{a} - {g} / (1 - {q} + {q} * ({x}) ** {k})"

    def to_dict(self) -> dict:
        return {"form": self.form, "asymptote": _json(self.asymptote), "gap": _json(self.gap),
                "k": _json(self.k), "p": _json(self.p), "spent_usd": _json(self.spent_usd),
                "formula": str(self)}


@dataclass(frozen=True)
class Estimate:
    """A forecast value with its band [low, high]; high may be inf
    (forecast_cost_to_reach)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return {"value": _json(self.value), "low": _json(self.low), "high": _json(self.high)}


@dataclass(frozen=True)
class Prediction:
    """Forecast accuracy after spending `horizon` more of the money spent so far."""

    horizon: float  # 0.25: 25% more than spent
    cost_usd: float  # the cumulative cost there, (1 + horizon) * spent
    accuracy: Estimate

    def __str__(self) -> str:
        a = self.accuracy
        return f"+{self.horizon:.0%}: {a.value:.2f} [{a.low:.2f}, {a.high:.2f}]"


@dataclass
class Forecast:
    """What the next dollars buy, from the rounds measured so far (see the module doc).

    `curve` gives the point forecasts; `fits` holds both forms' fits. `gain_per_usd` is
    the marginal accuracy per dollar of the next round: the curve's rise from spent_usd
    to spent_usd + next_round_usd, divided by next_round_usd. `grid` samples the curve
    and its band for plotting (columns cost_usd, accuracy, low, high) from the first
    measured cost to twice the money spent. Every band is the central `confidence`
    interval of the bootstrap refits, kept in sample_forms (index into FORMS) and
    sample_params (rows a, g, k) for other quantiles.
    """

    curve: Curve
    fits: dict[str, Curve]
    n_points: int
    n_test: int | None
    confidence: float
    next_round_usd: float
    predictions: list[Prediction] = field(default_factory=list)
    gain_per_usd: Estimate = Estimate(0.0, 0.0, 0.0)
    grid: dict[str, list[float]] = field(default_factory=dict)
    sample_forms: np.ndarray = field(default=None, repr=False, compare=False)
    sample_params: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def spent_usd(self) -> float:
        return self.curve.spent_usd

    def sample_curves(self, cost_usd) -> np.ndarray:
        """Each refit's accuracy at the given costs, within [0, 1] (a refit to noisy
        draws near 0 or 1 can leave it): shape (refits, len(costs))."""
        x = np.atleast_1d(np.asarray(cost_usd, dtype=float)) / self.spent_usd
        return np.clip(evaluate(self.sample_forms, self.sample_params, x), 0.0, 1.0)

    def at(self, cost_usd) -> list[Estimate]:
        """Forecast accuracy at any cumulative costs (dollars), with bands."""
        costs = np.atleast_1d(np.asarray(cost_usd, dtype=float))
        return self.band(self.curve(costs), self.sample_curves(costs))

    def gain_samples(self) -> np.ndarray:
        """Each refit's marginal accuracy per dollar over the next round."""
        before, after = self.sample_curves(
            [self.spent_usd, self.spent_usd + self.next_round_usd]).T
        return (after - before) / self.next_round_usd

    def band(self, values, samples: np.ndarray) -> list[Estimate]:
        """Estimates for point values, banded by the matching columns of samples."""
        q = [(1 - self.confidence) / 2, (1 + self.confidence) / 2]
        low, high = np.quantile(samples, q, axis=0, method="inverted_cdf")  # inf-safe
        return [Estimate(float(v), float(min(v, lo)), float(max(v, hi)))
                for v, lo, hi in zip(np.atleast_1d(values), low, high)]

    def summary(self) -> str:
        """One line: "+25%: 0.81 [0.78, 0.84], ...; next round ($0.10): ..."."""
        g = self.gain_per_usd
        horizons = ", ".join(str(p) for p in self.predictions)
        return (f"{horizons}; next round ({usd(self.next_round_usd)}): "
                f"{g.value:+.3f} [{g.low:+.3f}, {g.high:+.3f}] acc/$; "
                f"{self.curve.form} curve, asymptote {self.curve.asymptote:.2f}")

    def to_dict(self) -> dict:
        """JSON-ready: the fits, predictions, gain and grid (not the refits)."""
        return {
            "curve": self.curve.to_dict(),
            "fits": {form: c.to_dict() for form, c in self.fits.items()},
            "spent_usd": _json(self.spent_usd), "n_points": self.n_points,
            "n_test": self.n_test, "confidence": self.confidence,
            "next_round_usd": _json(self.next_round_usd),
            "predictions": [{"horizon": p.horizon, "cost_usd": _json(p.cost_usd),
                             **p.accuracy.to_dict()} for p in self.predictions],
            "gain_per_usd": self.gain_per_usd.to_dict(),
            "grid": {name: [_json(v) for v in values] for name, values in self.grid.items()},
            "summary": self.summary(),
        }


def fit_curve(costs, accuracies, n_test: int | None = None, form: str = "power") -> Curve | None:
    """The best bounded curve of one form through the (cost, accuracy) points, or None
    with fewer than three distinct positive costs (not enough rounds to forecast): one
    form's fit alone, as the tests check it (`forecast` weighs the forms).

    Weighted least squares (weights: binomial errors when n_test is given): the best k
    on a grid with (a, g) in closed form, polished by scipy's bounded least squares.
    """
    data = measured_points(costs, accuracies)
    if data is None:
        return None
    c, y = data
    theta, _ = fit_form(form, c / c.max(), y, binomial_error(y, n_test))
    return _curve(form, theta, float(c.max()))


def _curve(form: str, theta, spent: float) -> Curve:
    a, g, k, p = (float(v) for v in theta)
    return Curve(form, a, g, k, spent_usd=spent, p=p)


def forecast(costs, accuracies, next_round_cost: float, n_test: int | None = None,
             options: ForecastOptions = ForecastOptions()) -> Forecast | None:
    """Fit the rounds so far and forecast what more money buys; None when there are
    fewer than three rounds with distinct positive costs, or, without n_test, fewer than
    four (nothing to estimate the noise from).

    costs: cumulative teacher dollars after each round (round 0 included); accuracies:
    test accuracy (fraction) after each round; next_round_cost: what the next round is
    expected to cost (dollars); n_test: test questions behind each accuracy.
    """
    horizons, confidence, n_bootstrap = (options.horizons, options.confidence,
                                         options.n_bootstrap)
    if next_round_cost <= 0:
        raise ValueError(f"next_round_cost must be > 0, got {next_round_cost}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 20:
        raise ValueError(f"n_bootstrap must be >= 20, got {n_bootstrap}")
    data = measured_points(costs, accuracies)
    if data is None or (n_test is None and len(data[0]) <= MIN_POINTS):
        return None
    c, y = data
    spent = float(c.max())
    x = c / spent
    sigma = binomial_error(y, n_test)
    fits = {form: fit_form(form, x, y, sigma) for form in FORMS}
    noise = noise_per_point(fits, x, y, n_test, sigma)
    scale = 1.0 if n_test is not None else noise["power"][0] ** 2  # chi2 in noise units
    point = int(choose_forms(np.array([[fits[form][1] / scale] for form in FORMS]),
                             len(x))[0])
    curves = {form: _curve(form, theta, spent) for form, (theta, _) in fits.items()}
    rng = np.random.default_rng(options.seed)
    forms, params = bootstrap(fits, noise, x, n_bootstrap, rng)
    result = Forecast(curve=curves[FORMS[point]], fits=curves, n_points=len(c), n_test=n_test,
                      confidence=confidence, next_round_usd=float(next_round_cost),
                      sample_forms=forms, sample_params=params)
    curve = result.curve
    at = np.array([(1 + h) * spent for h in horizons])
    result.predictions = [Prediction(float(h), float(cost), e) for h, cost, e in
                          zip(horizons, at, result.band(curve(at), result.sample_curves(at)))]
    rise = curve(spent + next_round_cost) - curve(spent)
    result.gain_per_usd = result.band(rise / next_round_cost, result.gain_samples()[:, None])[0]
    grid = np.linspace(c.min(), 2 * spent, GRID_POINTS)
    estimates = result.band(curve(grid), result.sample_curves(grid))
    result.grid = {"cost_usd": grid.tolist(), "accuracy": [e.value for e in estimates],
                   "low": [e.low for e in estimates], "high": [e.high for e in estimates]}
    return result


def should_stop(forecast: Forecast | None, gain_per_usd_threshold: float,
                confidence: float = 0.9) -> tuple[bool, str]:
    """Stop when even an optimistic forecast says the next round is not worth it.

    gain_per_usd_threshold (X) is in accuracy per dollar (0.05: five points for $1).
    Stops when the `confidence` quantile of the refits' marginal gain per dollar over the
    next round is below X: with that confidence the next round buys less than X per
    dollar. No forecast (too few rounds) never stops. Returns (stop, why); `why` gives
    the forecast either way, for the run's last line.
    """
    if forecast is None:
        return False, (f"no forecast yet (needs {MIN_POINTS} rounds with teacher cost, "
                       "4 without the test size): going on")
    g = forecast.gain_per_usd.value
    upper = gain_bound(forecast, confidence)
    said = (f"the next round ({usd(forecast.next_round_usd)}) is forecast to buy "
            f"{g:+.3f} accuracy per $ ({confidence:.0%} upper bound {upper:+.3f})")
    last = max(forecast.predictions, key=lambda p: p.horizon, default=None)
    at = f"; forecast at {rough_usd(last.cost_usd)}: {last}" if last else ""
    if upper < gain_per_usd_threshold:
        return True, f"stopped: {said}, below stop_gain_per_usd={gain_per_usd_threshold:g}{at}"
    return False, (f"going on: {said}, not below stop_gain_per_usd="
                   f"{gain_per_usd_threshold:g}{at}")


def gain_bound(forecast: Forecast, confidence: float = 0.9) -> float:
    """The optimistic end of the next round's gain per dollar, the one `should_stop`
    decides on: the `confidence` quantile of the refits' gains (at least the point
    forecast)."""
    samples = forecast.gain_samples()
    return max(forecast.gain_per_usd.value,
               float(np.quantile(samples, confidence, method="inverted_cdf")))


def forecast_cost_to_reach(forecast: Forecast, target_accuracy: float) -> Estimate | None:
    """The cumulative cost (dollars) at which the forecast curve reaches target_accuracy,
    with its band; None when the curve's asymptote does not exceed the target. The
    band's high end is inf when some refits never reach it. A cost below spent_usd
    means the curve says the target is already reached.
    """
    c = forecast.curve
    if c.asymptote <= target_accuracy:
        return None
    value = solve_x(c.form, c.asymptote, c.gap, c.k, c.p, target_accuracy) * c.spent_usd
    x = np.zeros(len(forecast.sample_forms))
    for i, form in enumerate(FORMS):
        rows = forecast.sample_forms == i
        x[rows] = solve_x(form, *forecast.sample_params[rows].T, target_accuracy)
    return forecast.band(value, (x * c.spent_usd)[:, None])[0]


def _json(value: float) -> float | None:
    """A float for JSON: rounded to 6 digits; None for inf or nan."""
    return round(float(value), 6) if math.isfinite(value) else None
