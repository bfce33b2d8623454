"""The report's forecast section: what more teacher money buys (run_forecast.py), the
latest forecast against the measured rounds, where the stop rule stops (or would), and
per round the forecasts and the label-free signals."""

from __future__ import annotations

from elad.config import RunConfig
from elad.forecast import gain_bound
from elad.reading.html_page import Markup, image, table, tag
from elad.reading.plots import Labels, Series, line_plot
from elad.reading.report_summary import CONFIRMED
from elad.run_forecast import (
    CONFIDENCE,
    illustrative_threshold,
    prefix_forecasts,
    stop_cost,
    stop_index,
)
from elad.types import RoundRecord


def forecast_section(records: list[RoundRecord], config: RunConfig, n_test: int
                     ) -> list[Markup]:
    """The latest forecast against the measured rounds, where the stop rule stops (or
    would), and per round the forecasts and the label-free signals."""
    body = [tag("h2", "Forecast: what more teacher money buys")]
    forecasts = prefix_forecasts(records, n_test, config.budget_usd)
    latest = forecasts[-1]
    if latest is None:
        return body + [tag("p", "No forecast yet: it needs three rounds with teacher cost "
                                "(the seed round and two more).", cls="muted")]
    threshold = config.stop_gain_per_usd or illustrative_threshold(records)
    rule = (f"The stop rule is set: stop_gain_per_usd={threshold:g} (accuracy per $)."
            if config.stop_gain_per_usd else
            "The stop rule is off in this run (stop_gain_per_usd=0); it is shown with "
            + (f"stop_gain_per_usd={threshold:g}, a tenth of the run's mean gain per "
               "dollar after the seed round (for illustration)." if threshold else
               "no threshold: the run has not gained since the seed round."))
    would = "stops" if config.stop_gain_per_usd else "would stop"
    stop = stop_point(records, forecasts, threshold, would) if threshold else None
    body.append(tag("p", f"The curve ({latest.curve.form}: {latest.curve}) is fitted to "
                         f"the test accuracy ({n_test} questions) of all {len(records)} "
                         "rounds against cumulative teacher cost and extended to twice "
                         f"the spend; the band holds {CONFIDENCE:.0%} of the bootstrap "
                         f"refits. {rule} " + (stop[2] if stop else "")))
    series = [Series("measured test accuracy", [r.cost_usd for r in records],
                     [r.test_accuracy for r in records], marker="o"),
              Series(f"forecast after round {records[-1].round} ({CONFIDENCE:.0%} band)",
                     latest.grid["cost_usd"], latest.grid["accuracy"], latest.grid["low"],
                     latest.grid["high"], dashed=True)]
    if stop and stop[0] is not None:
        series.append(Series(f"the rule {would} here (stop_gain_per_usd={threshold:g})",
                             [stop[0]], [stop[1]], marker="*", marker_size=16))
    plot = line_plot(series, Labels(
        "cumulative teacher cost ($)", "test accuracy",
        "Measured accuracy, the forecast curve and where the rule stops"))
    body += [image(plot, "measured accuracy against cost, the fitted forecast curve with "
                         "its band to twice the cost, and where the stop rule stops"),
             forecast_table(records, forecasts)]
    return body


def stop_point(records: list[RoundRecord], forecasts: list, threshold: float, would: str
               ) -> tuple[float | None, float | None, str]:
    """Where the rule at `threshold` stops: (cost, accuracy, a sentence saying which)."""
    index = stop_index(forecasts, threshold)
    if index is not None:
        r = records[index]
        return r.cost_usd, r.test_accuracy, (
            f"It {would} after round {r.round} (${r.cost_usd:.4f}, accuracy "
            f"{r.test_accuracy:.3f}), on that round's forecast.")
    cost = stop_cost(forecasts[-1], threshold)
    if cost is None:
        return None, None, (f"It {would} in none of these rounds, nor within twice the "
                            "spend if the next rounds go as the latest forecast says.")
    accuracy = float(forecasts[-1].curve(cost))
    return cost, accuracy, (f"It {would} in none of these rounds; if the next rounds go as "
                            f"the latest forecast says, it {would} at about ${cost:.4f} "
                            f"(accuracy {accuracy:.3f}).")


def forecast_table(records: list[RoundRecord], forecasts: list) -> Markup:
    """Per round: the forecast made after it, and its label-free signals."""
    def band(e) -> str:
        return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"

    def share(signals: dict | None, key: str) -> str:
        value = (signals or {}).get(key)
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for r, f in zip(records, forecasts):
        predictions = [band(p.accuracy) for p in f.predictions] if f else ["-"] * 3
        rows.append([r.round, f"{r.cost_usd:.4f}", f"{r.test_accuracy:.3f}", *predictions,
                     band(f.gain_per_usd) if f else "-",
                     f"{gain_bound(f, CONFIDENCE):+.3f}" if f else "-",
                     "-" if r.confirmed_fraction is None else f"{r.confirmed_fraction:.2f}",
                     share(r.signals, "agreement"), share(r.signals, "unanimous"),
                     share(r.signals, "uncertain")])
    return Markup(table(
        ["round", "cost $", "test acc", "forecast +25% $", "+50% $", "+100% $",
         "next round: acc per $", f"{CONFIDENCE:.0%} upper", "confirmed", "agreement",
         "unanimous", "uncertain"], rows)
        + tag("p", "Forecasts are made after the round, from it and the rounds before, "
                   f"with {CONFIDENCE:.0%} bands. The label-free signals need no test set; "
                   "they describe the round's candidates as the previous round's student "
                   f"explained them: confirmed, {CONFIRMED}; agreement, the mean of "
                   "1 - u_inter over "
                   "the candidates; unanimous, the share whose K answers all agree; "
                   "uncertain, the share whose u(q) reaches the first scored round's "
                   "selection threshold.", cls="muted"))

