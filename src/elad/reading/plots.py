"""PNG plots for the reports, drawn with matplotlib's Agg canvas (no display, no global
pyplot state), returned as bytes for embedding in HTML or writing to a file."""

from __future__ import annotations

import io
from dataclasses import dataclass

from matplotlib.figure import Figure


@dataclass
class Series:
    """One line: points (x, y), optionally a band from `low` to `high` (the spread)."""

    label: str
    x: list[float]
    y: list[float]
    low: list[float] | None = None
    high: list[float] | None = None
    step: bool = False  # a step function: y holds from each x until the next one
    marker: str | None = None
    dashed: bool = False
    marker_size: float | None = None  # None: matplotlib's default


@dataclass(frozen=True)
class Labels:
    """A plot's axis labels and title."""

    x: str
    y: str
    title: str


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def line_plot(series: list[Series], labels: Labels,
              hlines: list[tuple[float, str]] = ()) -> bytes:
    """Lines with optional spread bands, and labelled horizontal reference lines."""
    figure = Figure(figsize=(8, 4.8))
    axes = figure.subplots()
    for s in series:
        drawstyle = "steps-post" if s.step else "default"
        (line,) = axes.plot(s.x, s.y, label=s.label, drawstyle=drawstyle, marker=s.marker,
                            markersize=s.marker_size, linestyle="--" if s.dashed else "-")
        if s.low is not None and s.high is not None:
            axes.fill_between(s.x, s.low, s.high, alpha=0.15, color=line.get_color(),
                              step="post" if s.step else None, linewidth=0)
    for value, label in hlines:
        axes.axhline(value, color="black", linestyle=":", linewidth=1, label=label)
    axes.set_xlabel(labels.x)
    axes.set_ylabel(labels.y)
    axes.set_title(labels.title)
    axes.grid(alpha=0.3)
    if series or hlines:
        axes.legend(fontsize="small", loc="best")
    return _png(figure)


def bar_plot(categories: list[str], groups: dict[str, list[float]], labels: Labels,
             errors: dict[str, list[float]] | None = None, stacked: bool = False) -> bytes:
    """Bars per category, one colour per group: side by side, or stacked."""
    figure = Figure(figsize=(8, 4.2))
    axes = figure.subplots()
    n = len(groups)
    width = 0.8 if stacked else 0.8 / max(1, n)
    bottom = [0.0] * len(categories)
    for i, (name, values) in enumerate(groups.items()):
        offset = 0.0 if stacked else (i - (n - 1) / 2) * width
        x = [j + offset for j in range(len(categories))]
        error = errors.get(name) if errors else None
        axes.bar(x, values, width, label=name, bottom=bottom if stacked else None,
                 yerr=error, capsize=3 if error else 0)
        if stacked:
            bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xticks(range(len(categories)), categories)
    axes.set_xlabel(labels.x)
    axes.set_ylabel(labels.y)
    axes.set_title(labels.title)
    axes.grid(alpha=0.3, axis="y")
    if groups:
        axes.legend(fontsize="small")
    return _png(figure)
