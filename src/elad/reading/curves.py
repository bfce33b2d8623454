"""A run's observed accuracy-vs-cost curve, read as a step function: after each round,
its cumulative teacher cost and its test accuracy. What the report and the bench summary
both measure on it (the forecast's fitted curve is forecast.py's)."""

from __future__ import annotations

TOLERANCE = 1e-12  # accuracies and costs compared as equal within this


def accuracy_at(costs: list[float], accuracies: list[float], cost: float) -> float | None:
    """Accuracy after the last round costing at most `cost` (None before round 0): what
    a user who stopped paying at `cost` would have."""
    reached = [a for c, a in zip(costs, accuracies) if c <= cost + TOLERANCE]
    return reached[-1] if reached else None


def curve_area(costs: list[float], accuracies: list[float], budget: float,
               start: float | None = None, before: float = 0.0) -> float | None:
    """Mean accuracy over costs from `start` (default: round 0's cost) to `budget` (the
    normalized area under the step curve; a run that stopped early keeps its last
    accuracy, and one whose round 0 cost more than `start` has `before` until then: its
    student's accuracy before any teacher target)."""
    if costs and start is not None and start < costs[0]:
        costs, accuracies = [start, *costs], [before, *accuracies]
    if not costs or budget <= costs[0]:
        return None
    edges = [*costs, max(budget, costs[-1])]
    area = sum(a * (min(edges[i + 1], budget) - min(c, budget))
               for i, (c, a) in enumerate(zip(costs, accuracies)))
    return area / (budget - costs[0])


def cost_to_reach(costs: list[float], accuracies: list[float], target: float
                  ) -> float | None:
    """The cost paid by the first round whose accuracy is at least `target` (None if no
    round reached it)."""
    return next((c for c, a in zip(costs, accuracies) if a >= target - TOLERANCE), None)
