"""How well `elad.forecast` forecasts, on synthetic runs with a known truth (no models,
a minute on one CPU core).

1. The project's measured curve (the default bench grid, one run): forecasts from its
   first 3 and 4 rounds.
2. A smooth curve shaped like it (log-logistic in cost, 0.51 at $0.12, 0.78 at $0.45,
   0.97 at $2.34 like the whole-pool run), measured with binomial noise over 300 test
   questions, 50 seeds: the forecast at twice the spend from 3 to 6 rounds, and what the
   stop rule would do.
3. Coverage and error of the forecast at twice the spend, by the shape of the truth:
   power law, exponential saturation, log (never saturating), and a sigmoid still
   accelerating (where no saturating curve can forecast).

    PYTHONPATH=src python benchmarks/forecast_synthetic.py [--runs 100]
"""

from __future__ import annotations

import argparse

import numpy as np

from elad.forecast import forecast, should_stop

N_TEST = 300
MEASURED = ([0.12, 0.25, 0.37, 0.45], [0.51, 0.56, 0.63, 0.80])


def project_like(c):
    """Log-logistic from 0.45 to 0.985: 0.51 at $0.12, 0.78 at $0.45, 0.97 at $2.34."""
    return 0.45 + 0.535 / (1 + (0.35 / np.asarray(c, dtype=float)) ** 1.92)


def truths(kind, rng, n_points):
    """A random run of one shape: (cumulative costs, true curve, round cost)."""
    first, step = rng.uniform(0.05, 0.3, size=2)
    costs = first + step * np.arange(n_points)
    a, acc0 = rng.uniform(0.7, 0.98), rng.uniform(0.3, 0.6)
    span = 2 * costs[-1]
    if kind == "power":
        k = rng.uniform(0.2, 1.0)
        b = (a - acc0) * first ** k
        return costs, lambda c: a - b * c ** -k, step
    if kind == "exp":
        rate = rng.uniform(0.5, 3) / span
        return costs, lambda c: a - (a - acc0) * np.exp(-rate * (c - first)), step
    if kind == "log":
        slope = rng.uniform(0.05, 0.15)
        return costs, lambda c: np.minimum(acc0 + slope * np.log(c / first), 0.99), step
    middle, width = rng.uniform(0.2, 1.0) * span, rng.uniform(0.1, 0.4) * span
    low = acc0 - 0.1
    return costs, lambda c: low + (a - low) / (1 + np.exp(-(c - middle) / width)), step


def measured_curve():
    print("1. The measured curve: accuracy", MEASURED[1], "at $", MEASURED[0])
    for n in (3, 4):
        costs, accuracies = MEASURED[0][:n], MEASURED[1][:n]
        f = forecast(costs, accuracies, 0.1, n_test=N_TEST)
        print(f"   {n} rounds: {f.summary()}")
        print(f"      curve: {f.curve}")


def project_like_runs(runs):
    costs = np.array([0.12, 0.25, 0.37, 0.45, 0.56, 0.67])
    print(f"\n2. A smooth curve like it, {runs} seeds of 300-question noise; rounds at $", costs)
    print("   rounds  spent  truth@2x  forecast@2x mean (sd)  band (mean)    covered"
          "  next-round gain: true / forecast  stops at X=0.1 / 0.3")
    rng = np.random.default_rng(0)
    measured = rng.binomial(N_TEST, project_like(costs), size=(runs, len(costs))) / N_TEST
    for n in (3, 4, 5, 6):
        spent, step = costs[n - 1], 0.11
        truth = float(project_like(2 * spent))
        true_gain = float(project_like(spent + step) - project_like(spent)) / step
        fs = [forecast(costs[:n], m[:n], step, n_test=N_TEST) for m in measured]
        points = np.array([f.predictions[-1].accuracy.value for f in fs])
        lows = np.array([f.predictions[-1].accuracy.low for f in fs])
        highs = np.array([f.predictions[-1].accuracy.high for f in fs])
        covered = np.mean((lows <= truth) & (truth <= highs))
        gains = np.mean([f.gain_per_usd.value for f in fs])
        stops = [np.mean([should_stop(f, x)[0] for f in fs]) for x in (0.1, 0.3)]
        print(f"   {n}       ${spent:.2f}  {truth:.3f}     {points.mean():.3f} ({points.std():.3f})"
              f"          [{lows.mean():.2f}, {highs.mean():.2f}]   {covered:.2f}"
              f"     {true_gain:.2f} / {gains:.2f}"
              f"                       {stops[0]:.2f} / {stops[1]:.2f}")


def by_shape(runs):
    print(f"\n3. By the truth's shape, {runs} random runs each: at twice the spend, "
          "coverage of the 90% band / mean abs error / mean error / mean band width")
    for kind in ("power", "exp", "log", "sigmoid"):
        cells = []
        for n in (3, 4, 5, 8):
            rng = np.random.default_rng(1)
            hits, errors, widths = [], [], []
            for _ in range(runs):
                costs, true, step = truths(kind, rng, n)
                measured = rng.binomial(N_TEST, np.clip(true(costs), 0, 1)) / N_TEST
                p = forecast(costs, measured, step, n_test=N_TEST).predictions[-1].accuracy
                t = float(true(2 * costs[-1]))
                hits.append(p.low <= t <= p.high)
                errors.append(p.value - t)
                widths.append(p.high - p.low)
            cells.append(f"{n} rounds {np.mean(hits):.2f}/{np.mean(np.abs(errors)):.3f}/"
                         f"{np.mean(errors):+.3f}/{np.mean(widths):.2f}")
        print(f"   {kind:8s}", "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="random runs per cell")
    args = parser.parse_args()
    measured_curve()
    project_like_runs(min(args.runs, 50))
    by_shape(args.runs)


if __name__ == "__main__":
    main()
