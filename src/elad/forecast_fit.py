"""The fits behind forecast.py, on costs scaled by the spend (x = c / spent, so x <= 1):
each form's shape (`basis`), the closed-form (a, g) least squares on a grid of shapes for
many rows at once (`profile_fits`), the polished point fit (`fit_form`), the noise drawn
around each fit and the bootstrap refits of the band. Parameters are theta = (a, g, k, p),
p = 1 for the one-shape forms. Pure numpy and scipy.

Why closed form: for a fixed shape (k, and p for hill) every form is linear in (a, g), so
the bounded (a, g) least squares has a closed form; the refits solve it on SHAPE_GRID
for all draws at once, and the point fits start from that grid and are polished by
scipy's bounded least squares (the grid finds the basin, the solver the optimum).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

FORMS = ("power", "exp", "hill")
K_RANGE = {"power": (0.05, 1.5), "exp": (0.02, 20.0), "hill": (0.05, 12.0)}  # k's bounds
P_RANGE = (1e-3, 1.0)  # hill's p; p = 1 is the power law
PENALTY = {"power": 0.0, "exp": 2.0, "hill": 4.0}  # chi-square a point fit pays (forecast.py)
REFIT_PENALTY = {"power": 0.0, "exp": 0.0, "hill": 2.0}  # the same, in the band's refits
N_PARAMS = {"power": 3, "exp": 3, "hill": 4}
MIN_POINTS = 3  # rounds with distinct positive costs a forecast needs
NOISE_FLOOR = 0.005  # smallest noise per point assumed without n_test


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


def basis(form: str, x, k, p=1.0):
    """The curve's shape, 1 at x = 1 (the spend) and falling with x."""
    if form == "power":
        return x ** -k
    if form == "exp":
        return np.exp(-k * (x - 1))
    return 1 / (1 - p + p * x ** k)


def basis_grads(form: str, x, k, p):
    """d basis / dk and d basis / dp."""
    if form == "power":
        return -np.log(x) * x ** -k, np.zeros_like(x)
    if form == "exp":
        return -(x - 1) * np.exp(-k * (x - 1)), np.zeros_like(x)
    b = basis(form, x, k, p)
    return -b ** 2 * p * x ** k * np.log(x), -b ** 2 * (x ** k - 1)


def evaluate(forms: np.ndarray, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows of (form, (a, g, k, p)) evaluated at x: shape (rows, len(x))."""
    a, g, k, p = (params[:, i:i + 1] for i in range(4))
    values = np.empty((len(forms), len(x)))
    with np.errstate(over="ignore"):
        for i, form in enumerate(FORMS):
            rows = forms == i
            values[rows] = basis(form, x, k[rows], p[rows])
    return a - g * values


def solve_x(form, a, g, k, p, target):
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


def measured_points(costs, accuracies) -> tuple[np.ndarray, np.ndarray] | None:
    c = np.asarray(costs, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"need one accuracy per cost, got shapes {c.shape} and {y.shape}")
    keep = c > 0
    c, y = c[keep], y[keep]
    if len(np.unique(c)) < MIN_POINTS:
        return None
    return c, y


def binomial_error(y: np.ndarray, n_test: int | None) -> np.ndarray:
    """Standard error of each accuracy over n_test questions (ones without n_test)."""
    if n_test is None:
        return np.ones_like(y)
    p = (y * n_test + 1) / (n_test + 2)
    return np.sqrt(p * (1 - p) / n_test)


def profile_fits(form: str, x: np.ndarray, y: np.ndarray, sigma: np.ndarray):
    """The best (a, g, k, p) of one form for each row of y (rows, points), (k, p) on
    SHAPE_GRID, and its chi-square.

    For a fixed shape the curve is linear in (a, g), so the weighted least squares with
    a, g in [0, 1] has a closed form: the unconstrained solution if it is inside the box,
    else the best of the box's edges (each a clipped one-dimensional fit; the problem is
    convex, so one of these is the optimum). All rows and all shapes at once.
    """
    ks, ps = SHAPE_GRID[form]
    w = 1 / sigma ** 2
    z = basis(form, x[None, :], ks[:, None], ps[:, None])  # (shapes, points)
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


def fit_form(form: str, x, y, sigma) -> tuple[np.ndarray, float]:
    """(a, g, k, p) and chi-square: the grid's best, polished by scipy's bounded least
    squares (the grid finds the basin, the solver the exact optimum)."""
    params, chi2 = profile_fits(form, x, y[None, :], sigma)
    start, start_chi2 = params[0], float(chi2[0])
    free = N_PARAMS[form]  # p is fixed at 1 for the three-parameter forms

    def residuals(theta):
        a, g, k, p = (*theta, 1.0)[:4]
        return (a - g * basis(form, x, k, p) - y) / sigma

    def jacobian(theta):
        a, g, k, p = (*theta, 1.0)[:4]
        d_k, d_p = basis_grads(form, x, k, p)
        columns = [np.ones_like(x), -basis(form, x, k, p), -g * d_k, -g * d_p][:free]
        return np.stack(columns, axis=1) / sigma[:, None]

    (k_lo, k_hi), (p_lo, p_hi) = K_RANGE[form], P_RANGE
    lower, upper = [0.0, 0.0, k_lo, p_lo][:free], [1.0, 1.0, k_hi, p_hi][:free]
    fit = least_squares(residuals, np.clip(start[:free], lower, upper), jac=jacobian,
                        method="trf", bounds=(lower, upper))
    polished = float(np.sum(fit.fun ** 2))
    if polished > start_chi2:
        return start, start_chi2
    return np.array([*fit.x, 1.0][:4]), polished


def choose_forms(chi2: np.ndarray, points: int, penalty: dict[str, float] = PENALTY
                 ) -> np.ndarray:
    """The form each column of chi2 (forms, rows) picks: the lowest chi-square plus the
    form's penalty, the first form on ties (index into FORMS); none with more parameters
    than `points` (hill through three points is a step anywhere it likes: a noisy dip
    then rise read as a jump to 1.0)."""
    paid = [penalty[form] if N_PARAMS[form] <= points else math.inf for form in FORMS]
    return np.argmin(chi2 + np.array(paid)[:, None], axis=0)


def noise_per_point(fits: dict, x, y, n_test, sigma) -> dict[str, np.ndarray]:
    """Noise per point to draw around each form's fit (forecast.py's module doc)."""
    noise = {}
    for form in FORMS:
        theta = fits[form][0]
        fitted = np.clip(theta[0] - theta[1] * basis(form, x, theta[2], theta[3]), 0, 1)
        chi2 = float(np.sum(((fitted - y) / sigma) ** 2))
        dof = len(x) - N_PARAMS[form]
        if n_test is None:  # power has dof >= 1 here: forecast needs four rounds
            noise[form] = (np.full_like(y, max(NOISE_FLOOR, math.sqrt(chi2 / dof)))
                           if dof >= 1 else noise["power"])
        else:
            inflate = math.sqrt(chi2 / dof) if dof >= 1 else 1.0
            noise[form] = binomial_error(fitted, n_test) * max(1.0, inflate)
    return noise


def bootstrap(fits, noise, x, n, rng) -> tuple[np.ndarray, np.ndarray]:
    """Refits to n draws, a share around each form's fit: (forms, params (n, 4))."""
    forms, params = [], []
    drawn = [form for form in FORMS if N_PARAMS[form] <= len(x)]  # choose_forms's
    counts = [n // len(drawn) + (i < n % len(drawn)) for i in range(len(drawn))]
    for form, count in zip(drawn, counts):
        theta = fits[form][0]
        y = theta[0] - theta[1] * basis(form, x, theta[2], theta[3])
        draws = y + rng.normal(0.0, noise[form], size=(count, len(x)))
        refits = [profile_fits(f, x, draws, noise[form]) for f in FORMS]
        chosen = choose_forms(np.stack([chi2 for _, chi2 in refits]), len(x),
                              REFIT_PENALTY)
        forms.append(chosen)
        params.append(np.choose(chosen[:, None], [p for p, _ in refits]))
    return np.concatenate(forms), np.concatenate(params)

