"""What more teacher money buys: a learning curve fitted to a run's rounds, its forecast,
and a stop rule in dollars. Pure numpy and scipy (the report imports it; never torch).

Units: costs in dollars (cumulative teacher cost after a round), accuracies as fractions
in [0, 1], marginal gains in accuracy per dollar (0.05 per $: five points for one more $).

The curve. With s the money spent so far (the largest cost measured) and x = c / s:

    power:  acc(c) = a - g * x ** -k                  (inverse power law)
    exp:    acc(c) = a - g * exp(-k * (x - 1))        (exponential saturation)
    hill:   acc(c) = a - g / (1 - p + p * x ** k)     (log-logistic: S-shaped in cost)

a is the asymptote, g the gap (a minus the curve's accuracy at s: what is still to
gain), k the exponent or rate. All are written around s so that a and g are
accuracies in [0, 1] whatever the prices; the power law is the usual a - b * c**-k with
b = g * s**k. hill is the logistic in log-cost (the Hill or Morgan-Mercer-Flodin curve)
with its lower end at a - g / (1 - p) and its midpoint where p * x ** k = 1 - p; p = 1
is the power law. Bounds: a and g in [0, 1]; k in K_RANGE; p in P_RANGE.

Why the power law: learning curves of supervised models (error against the number of
training examples) are well described by power laws (Hestness et al. 2017, "Deep
Learning Scaling is Predictable, Empirically"; Rosenfeld et al. 2020; Viering & Loog
2022, "The Shape of Learning Curves: a Review", where the three-parameter power law is
among the best extrapolators), and teacher dollars are, to first order, labeled
examples. Its exponent bounds follow those papers (exponents mostly 0.1 to 0.5), with
room above. Why a second form: a power law in cost bends hardest at the first dollars,
so a run that still rises about linearly with cost makes it forecast too little; the
exponential, with a small rate, stays nearly straight over the measured costs and
covers that case. A log form a + b * log(c) is the power law's k -> 0 limit and never
saturates. Why a third: a small student can learn a skill all at once (the project's
tiny students learn arithmetic after 200 to 450 targets: slow rounds, then a jump,
then a plateau), and neither form can bend upwards; the S-shaped curves of learning-
curve extrapolation (Domhan et al. 2015, "Speeding up Automatic Hyperparameter
Optimization of Deep Neural Networks by Extrapolation of Learning Curves", whose
families include MMF and Weibull) can. It has four parameters: it needs four rounds to
be fitted by more than its bounds, and it is taken for the point forecast only when it
fits clearly better (below).

The point forecast is the form with the lowest chi-square (in units of the measurement
noise) plus its PENALTY: 0 for the power law, 2 for the exponential (a preference: it
must fit clearly better), 4 for hill (about the 95% likelihood-ratio test for one more
parameter). With three rounds every form passes through the points and the power law
wins. On synthetic runs (benchmarks/forecast_synthetic.py, part 3: 100 runs a shape,
at twice the spend after 3 to 8 rounds) adding hill moves the mean error of power,
exponential and log truths by -0.3 to +1.3 points and of sigmoid truths by +1 to +2
(most of those are still before their jump, where no curve can see it), and raises the
band's coverage of the sigmoid truths from 0.32-0.49 to 0.51-0.77. On the project's
default bench grid (benchmarks/forecast_bench.py runs/bench) the forecast after round 3
is off by 5.1 points from the later rounds instead of 6.1, and its band holds 85% of
them instead of 46%; BENCHMARKS.md has the long runs. A run still slow before its jump
cannot be forecast by any curve: the forecast stays too low there.

Few points. Each form has at least three parameters, so a forecast needs three rounds
with distinct positive costs; below that `fit_curve` and `forecast` return None (not
enough rounds to forecast) and the stop rule goes on. Costs of zero are left out (the
power law has no value at 0). With exactly three rounds the band is wide: all the doubt
is in it.

Noise and weights. With n_test (the number of test questions) each accuracy has the
binomial standard error sqrt(p (1 - p) / n_test) (p smoothed as (k + 1) / (n + 2), so
that 0 and 1 keep an error), and the fit weights points by it. Training noise can make
rounds scatter more than that, and a curve that does not fit leaves residuals larger
than that: with four rounds or more the errors are scaled up by sqrt(chi2 / dof) when
that exceeds 1 (never down). Without n_test the noise is estimated from the residuals,
which needs four rounds (floored at NOISE_FLOOR).

The band: a parametric bootstrap over the three forms. A third of the draws are new
accuracies around each form's fit, with the noise above; each draw is refitted with
every form and the best fit kept (hill paying REFIT_PENALTY's 2, one parameter's AIC:
refitted freely, it reads noise on a flat run as the start of a jump, and the band
would never let the stop rule stop), and a band is the central `confidence` interval of
the refits' values, widened if needed to hold the point forecast (draws from a seeded
generator, so a forecast is deterministic). Why not the
fit's covariance: with three to eight points and parameters at their bounds (a at 1, g
at 0) the linearized covariance is poor or singular, and it knows nothing of the form.
Why not resampling the points or residuals: a resample of three to eight points often
repeats points and leaves the curve undetermined, and an exact three-point fit has no
residuals. Independent noise per round is on the safe side: every round is scored on
the same test questions, which makes successive rounds' errors agree.

Speed: for a fixed shape (k, and p for hill) every form is linear in (a, g), so the
refits solve the bounded (a, g) least squares in closed form on a grid of shapes
(SHAPE_GRID), all draws at once; the point fits start from that grid and are polished
by scipy's bounded least squares. A forecast takes a few tenths of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

FORMS = ("power", "exp", "hill")
K_RANGE = {"power": (0.05, 1.5), "exp": (0.02, 20.0), "hill": (0.05, 12.0)}  # k's bounds
P_RANGE = (1e-3, 1.0)  # hill's p; p = 1 is the power law
PENALTY = {"power": 0.0, "exp": 2.0, "hill": 4.0}  # chi-square a point fit pays (module doc)
REFIT_PENALTY = {"power": 0.0, "exp": 0.0, "hill": 2.0}  # the same, in the band's refits
N_PARAMS = {"power": 3, "exp": 3, "hill": 4}
MIN_POINTS = 3  # rounds with distinct positive costs a forecast needs
N_BOOTSTRAP = 400  # refits for the band
NOISE_FLOOR = 0.005  # smallest noise per point assumed without n_test
GRID_POINTS = 41  # samples of the curve for plots, from the first cost to 2x spent


def _shape_grid(form: str) -> tuple[np.ndarray, np.ndarray]:
    """The (k, p) pairs the closed-form fits try: 200 values of k for the one-shape
    forms; for hill, 40 values of k by 24 of p (log-spaced in p and in 1 - p)."""
    lo, hi = K_RANGE[form]
    if form != "hill":
        ks = np.geomspace(lo, hi, 200)
        return ks, np.ones_like(ks)
    ps = np.unique(np.concatenate([np.geomspace(P_RANGE[0], 0.5, 12),
                                   1 - np.geomspace(0.5, P_RANGE[0], 12), [1.0]]))
    ks, ps = np.meshgrid(np.geomspace(lo, hi, 40), ps)
    return ks.ravel(), ps.ravel()


SHAPE_GRID = {form: _shape_grid(form) for form in FORMS}


@dataclass(frozen=True)
class Curve:
    """A fitted curve: acc(c) = asymptote - gap * basis(c / spent_usd) (module doc)."""

    form: str  # "power", "exp" or "hill"
    asymptote: float
    gap: float  # asymptote minus the curve's accuracy at spent_usd
    k: float  # power and hill: exponent; exp: rate per spent_usd
    spent_usd: float
    p: float = 1.0  # hill only: the share of the power law (1: the power law itself)

    def __call__(self, cost_usd):
        """Accuracy at the given cumulative cost(s), dollars."""
        x = np.asarray(cost_usd, dtype=float) / self.spent_usd
        return self.asymptote - self.gap * _basis(self.form, x, self.k, self.p)

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
    """A forecast value with its band [low, high]; high may be inf (cost_to_reach)."""

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
        return np.clip(_evaluate(self.sample_forms, self.sample_params, x), 0.0, 1.0)

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
        return (f"{horizons}; next round (${self.next_round_usd:.2f}): "
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
    with fewer than three distinct positive costs (not enough rounds to forecast).

    Weighted least squares (weights: binomial errors when n_test is given): the best k
    on a grid with (a, g) in closed form, polished by scipy's bounded least squares.
    """
    data = _points(costs, accuracies)
    if data is None:
        return None
    c, y = data
    theta, _ = _fit(form, c / c.max(), y, _binomial_error(y, n_test))
    return _curve(form, theta, float(c.max()))


def _curve(form: str, theta, spent: float) -> Curve:
    a, g, k, p = (float(v) for v in theta)
    return Curve(form, a, g, k, spent_usd=spent, p=p)


def forecast(costs, accuracies, next_round_cost: float, n_test: int | None = None,
             horizons=(0.25, 0.5, 1.0), confidence: float = 0.9,
             n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> Forecast | None:
    """Fit the rounds so far and forecast what more money buys; None when there are
    fewer than three rounds with distinct positive costs, or, without n_test, fewer than
    four (nothing to estimate the noise from).

    costs: cumulative teacher dollars after each round (round 0 included); accuracies:
    test accuracy (fraction) after each round; next_round_cost: what the next round is
    expected to cost (dollars); n_test: test questions behind each accuracy; horizons:
    fractions of the money spent so far to forecast at (0.5: at 1.5x the spend);
    confidence: the central probability of every band.
    """
    if next_round_cost <= 0:
        raise ValueError(f"next_round_cost must be > 0, got {next_round_cost}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 20:
        raise ValueError(f"n_bootstrap must be >= 20, got {n_bootstrap}")
    data = _points(costs, accuracies)
    if data is None or (n_test is None and len(data[0]) <= MIN_POINTS):
        return None
    c, y = data
    spent = float(c.max())
    x = c / spent
    sigma = _binomial_error(y, n_test)
    fits = {form: _fit(form, x, y, sigma) for form in FORMS}
    noise = _noise(fits, x, y, n_test, sigma)
    scale = 1.0 if n_test is not None else noise["power"][0] ** 2  # chi2 in noise units
    point = int(_choose(np.array([[fits[form][1] / scale] for form in FORMS]))[0])
    curves = {form: _curve(form, theta, spent) for form, (theta, _) in fits.items()}
    forms, params = _bootstrap(fits, noise, x, n_bootstrap, np.random.default_rng(seed))
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
    said = (f"the next round (${forecast.next_round_usd:.2f}) is forecast to buy "
            f"{g:+.3f} accuracy per $ ({confidence:.0%} upper bound {upper:+.3f})")
    last = max(forecast.predictions, key=lambda p: p.horizon, default=None)
    at = f"; forecast at ${last.cost_usd:.2f}: {last}" if last else ""
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


def cost_to_reach(forecast: Forecast, target_accuracy: float) -> Estimate | None:
    """The cumulative cost (dollars) at which the forecast curve reaches target_accuracy,
    with its band; None when the curve's asymptote does not exceed the target. The
    band's high end is inf when some refits never reach it. A cost below spent_usd
    means the curve says the target is already reached.
    """
    c = forecast.curve
    if c.asymptote <= target_accuracy:
        return None
    value = _solve_x(c.form, c.asymptote, c.gap, c.k, c.p, target_accuracy) * c.spent_usd
    x = np.zeros(len(forecast.sample_forms))
    for i, form in enumerate(FORMS):
        rows = forecast.sample_forms == i
        x[rows] = _solve_x(form, *forecast.sample_params[rows].T, target_accuracy)
    return forecast.band(value, (x * c.spent_usd)[:, None])[0]


# The fits, on costs scaled by the spend: x = c / spent, so x <= 1. Parameters are
# theta = (a, g, k, p), p = 1 for the one-shape forms.

def _basis(form: str, x, k, p=1.0):
    """The curve's shape, 1 at x = 1 (the spend) and falling with x."""
    if form == "power":
        return x ** -k
    if form == "exp":
        return np.exp(-k * (x - 1))
    return 1 / (1 - p + p * x ** k)


def _basis_grads(form: str, x, k, p):
    """d basis / dk and d basis / dp."""
    if form == "power":
        return -np.log(x) * x ** -k, np.zeros_like(x)
    if form == "exp":
        return -(x - 1) * np.exp(-k * (x - 1)), np.zeros_like(x)
    basis = _basis(form, x, k, p)
    return -basis ** 2 * p * x ** k * np.log(x), -basis ** 2 * (x ** k - 1)


def _evaluate(forms: np.ndarray, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows of (form, (a, g, k, p)) evaluated at x: shape (rows, len(x))."""
    a, g, k, p = (params[:, i:i + 1] for i in range(4))
    basis = np.empty((len(forms), len(x)))
    with np.errstate(over="ignore"):
        for i, form in enumerate(FORMS):
            rows = forms == i
            basis[rows] = _basis(form, x, k[rows], p[rows])
    return a - g * basis


def _solve_x(form, a, g, k, p, target):
    """x where a - g * basis(x) = target: inf where a <= target, 0 where the target is
    below the curve at x = 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if form == "hill":  # 1 - p + p x^k = g / (a - target)
            power = (g / np.maximum(a - target, 0) - 1 + p) / p
            x = np.maximum(power, 0) ** (1 / k)
        else:
            ratio = np.log(np.maximum(a - target, 0) / g)  # log basis(x) at the target
            x = np.exp(-ratio / k) if form == "power" else 1 - ratio / k
        return np.where(a > target, np.maximum(x, 0.0), np.inf)


def _points(costs, accuracies) -> tuple[np.ndarray, np.ndarray] | None:
    c = np.asarray(costs, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"need one accuracy per cost, got shapes {c.shape} and {y.shape}")
    keep = c > 0
    c, y = c[keep], y[keep]
    if len(np.unique(c)) < MIN_POINTS:
        return None
    return c, y


def _binomial_error(y: np.ndarray, n_test: int | None) -> np.ndarray:
    """Standard error of each accuracy over n_test questions (ones without n_test)."""
    if n_test is None:
        return np.ones_like(y)
    p = (y * n_test + 1) / (n_test + 2)
    return np.sqrt(p * (1 - p) / n_test)


def _profile_fits(form: str, x: np.ndarray, y: np.ndarray, sigma: np.ndarray):
    """The best (a, g, k, p) of one form for each row of y (rows, points), (k, p) on
    SHAPE_GRID, and its chi-square.

    For a fixed shape the curve is linear in (a, g), so the weighted least squares with
    a, g in [0, 1] has a closed form: the unconstrained solution if it is inside the box,
    else the best of the box's edges (each a clipped one-dimensional fit; the problem is
    convex, so one of these is the optimum). All rows and all shapes at once.
    """
    ks, ps = SHAPE_GRID[form]
    w = 1 / sigma ** 2
    z = _basis(form, x[None, :], ks[:, None], ps[:, None])  # (shapes, points)
    s1 = w.sum()
    sz, szz = z @ w, (z * z) @ w  # (shapes,)
    sy, syy = (y @ w)[:, None], ((y * y) @ w)[:, None]  # (rows, 1)
    szy = y @ (w * z).T  # (rows, shapes)

    def chi2(a, g):  # sum of w * (a - g z - y)^2, expanded
        return a * a * s1 + g * g * szz - 2 * a * g * sz - 2 * a * sy + 2 * g * szy + syy

    with np.errstate(divide="ignore", invalid="ignore"):  # z constant: no free solution
        g_free = (sz * sy / s1 - szy) / (szz - sz * sz / s1)
    candidates = [((sy + g_free * sz) / s1, g_free)]
    for g_edge in (0.0, 1.0):
        candidates.append((np.clip((sy + g_edge * sz) / s1, 0, 1), np.full_like(szy, g_edge)))
    for a_edge in (0.0, 1.0):
        candidates.append((np.full_like(szy, a_edge), np.clip((a_edge * sz - szy) / szz, 0, 1)))
    best = np.full_like(szy, np.inf)
    best_a, best_g = np.zeros_like(szy), np.zeros_like(szy)
    for a, g in candidates:
        value = chi2(a, g)
        better = (a >= 0) & (a <= 1) & (g >= 0) & (g <= 1) & (value < best)
        best = np.where(better, value, best)
        best_a, best_g = np.where(better, a, best_a), np.where(better, g, best_g)
    rows = np.arange(len(y))
    j = np.argmin(best, axis=1)
    return np.stack([best_a[rows, j], best_g[rows, j], ks[j], ps[j]], axis=1), best[rows, j]


def _fit(form: str, x, y, sigma) -> tuple[np.ndarray, float]:
    """(a, g, k, p) and chi-square: the grid's best, polished by scipy's bounded least
    squares (the grid finds the basin, the solver the exact optimum)."""
    params, chi2 = _profile_fits(form, x, y[None, :], sigma)
    start, start_chi2 = params[0], float(chi2[0])
    free = N_PARAMS[form]  # p is fixed at 1 for the three-parameter forms

    def residuals(theta):
        a, g, k, p = (*theta, 1.0)[:4]
        return (a - g * _basis(form, x, k, p) - y) / sigma

    def jacobian(theta):
        a, g, k, p = (*theta, 1.0)[:4]
        d_k, d_p = _basis_grads(form, x, k, p)
        columns = [np.ones_like(x), -_basis(form, x, k, p), -g * d_k, -g * d_p][:free]
        return np.stack(columns, axis=1) / sigma[:, None]

    (k_lo, k_hi), (p_lo, p_hi) = K_RANGE[form], P_RANGE
    lower, upper = [0.0, 0.0, k_lo, p_lo][:free], [1.0, 1.0, k_hi, p_hi][:free]
    fit = least_squares(residuals, np.clip(start[:free], lower, upper), jac=jacobian,
                        method="trf", bounds=(lower, upper))
    polished = float(np.sum(fit.fun ** 2))
    if polished > start_chi2:
        return start, start_chi2
    return np.array([*fit.x, 1.0][:4]), polished


def _choose(chi2: np.ndarray, penalty: dict[str, float] = PENALTY) -> np.ndarray:
    """The form each column of chi2 (forms, rows) picks: the lowest chi-square plus the
    form's penalty, the first form on ties (index into FORMS)."""
    return np.argmin(chi2 + np.array([penalty[form] for form in FORMS])[:, None], axis=0)


def _noise(fits: dict, x, y, n_test, sigma) -> dict[str, np.ndarray]:
    """Noise per point to draw around each form's fit (see the module doc)."""
    noise = {}
    for form in FORMS:
        theta = fits[form][0]
        fitted = np.clip(theta[0] - theta[1] * _basis(form, x, theta[2], theta[3]), 0, 1)
        chi2 = float(np.sum(((fitted - y) / sigma) ** 2))
        dof = len(x) - N_PARAMS[form]
        if n_test is None:  # power has dof >= 1 here: forecast needs four rounds
            noise[form] = (np.full_like(y, max(NOISE_FLOOR, math.sqrt(chi2 / dof)))
                           if dof >= 1 else noise["power"])
        else:
            inflate = math.sqrt(chi2 / dof) if dof >= 1 else 1.0
            noise[form] = _binomial_error(fitted, n_test) * max(1.0, inflate)
    return noise


def _bootstrap(fits, noise, x, n, rng) -> tuple[np.ndarray, np.ndarray]:
    """Refits to n draws, a share around each form's fit: (forms, params (n, 4))."""
    forms, params = [], []
    counts = [n // len(FORMS) + (i < n % len(FORMS)) for i in range(len(FORMS))]
    for form, count in zip(FORMS, counts):
        theta = fits[form][0]
        y = theta[0] - theta[1] * _basis(form, x, theta[2], theta[3])
        draws = y + rng.normal(0.0, noise[form], size=(count, len(x)))
        refits = [_profile_fits(f, x, draws, noise[form]) for f in FORMS]
        chosen = _choose(np.stack([chi2 for _, chi2 in refits]), REFIT_PENALTY)
        forms.append(chosen)
        params.append(np.choose(chosen[:, None], [p for p, _ in refits]))
    return np.concatenate(forms), np.concatenate(params)


def _json(value: float) -> float | None:
    """A float for JSON: rounded to 6 digits; None for inf or nan."""
    return round(float(value), 6) if math.isfinite(value) else None
