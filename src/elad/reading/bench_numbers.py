"""What an `elad bench` grid measured, computed from its runs' stores only (no torch);
the table, bench.json, the plots and index.html are bench_summary.py's.

Per run, then per configuration (strategy x mode) as mean ± sample standard deviation
over the seeds:

- accuracy at cost c: the test accuracy after the last round whose cumulative teacher
  cost is at most c (what a user who stopped paying at c would have; curves.py);
- area: the mean of that accuracy over costs from the cheapest seed round of the grid's
  runs of that seed to the budget (the normalized area under the accuracy-vs-cost curve;
  a run that stopped early keeps its last accuracy, and one whose round 0 cost more, a
  ranked one of longer questions, has its student's accuracy before any teacher target
  until then: every run of a seed measured over the same money);
- accuracy at half the budget;
- cost to reach 90% and 100% of the whole-pool accuracy of the same seed (first round
  at or above it; "never" when no round got there);
- teacher output tokens per training target, over the rounds after the seed round (where
  the mode acts in every run; a student that ranks the seed round also revises there)
  and over the whole run;
- the saturation round: the round after which the saturation rule stopped the run or, in
  a bench grid (whose runs go on to their budget, so that they compare at equal money),
  would have stopped it;
- AUROC of the run's own strategy score for "the student's greedy answer is wrong", over
  the candidates of every scored round (the selection diagnostic).

And, to explain the figures: how often the selected questions' greedy answers were wrong
(against all candidates), the confirmed fraction, where the teacher found the first
error, how long the selected questions' explanations are, and their task families.

Which configuration is the baseline, and which run is the whole-pool reference, the
bench says (bench_names.py, the runs' kinds).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats

from elad.config import RunConfig
from elad.reading.curves import accuracy_at, cost_to_reach, curve_area
from elad.rundir import RunDir
from elad.stopping import saturated
from elad.strategies import MIXED, auroc_by_strategy
from elad.tasks import hidden_answer
from elad.types import Example, Score, TeacherCall

CURVE_POINTS = 101
COST_SHARES = (0.25, 0.5, 0.75, 1.0)  # accuracy compared at these shares of the budget
OVER_SEEDS = {"over_seeds": True}  # a field summarized per configuration over the seeds


def over_seeds(default=None):
    return field(default=default, metadata=OVER_SEEDS)


@dataclass
class SelectionEvidence:
    """What the selected questions look like and what the teacher found in them."""

    auroc: float | None = over_seeds()
    selected_wrong: float | None = over_seeds()
    candidates_wrong: float | None = over_seeds()
    confirmed_overall: float | None = over_seeds()
    first_error_step: float | None = over_seeds()
    first_error_relative: float | None = over_seeds()
    first_error_at_step_1: float | None = over_seeds()
    first_error_at_answer_line: float | None = over_seeds()
    steps_kept_per_revision: float | None = over_seeds()
    target_steps_selected: float | None = over_seeds()
    target_steps_seed_round: float | None = over_seeds()
    selected_families: dict[str, float] = field(default_factory=dict)


@dataclass
class RunMetrics:
    """Everything the summary needs from one run directory's store. `kind` is the
    bench's: "grid" or "whole-pool" (the reference)."""

    name: str
    kind: str
    strategy: str
    mode: str
    seed: int
    budget_usd: float
    costs: list[float]
    accuracies: list[float]
    confirmed: list[float | None] = field(default_factory=list)
    stop_reason: str = ""
    cost_usd: float | None = over_seeds()
    final_accuracy: float | None = over_seeds()
    seed_round_cost_usd: float | None = None
    accuracy_before: float | None = None  # the untrained student's, if it was tested
    area: float | None = over_seeds()  # a grid's: set over the seed's runs (summarize)
    accuracy_at_half_budget: float | None = over_seeds()
    targets: int = 0
    output_tokens_per_target: float | None = over_seeds()
    output_tokens_per_target_after_seed: float | None = over_seeds()
    input_tokens_per_target_after_seed: float | None = over_seeds()
    cost_per_target_after_seed: float | None = over_seeds()
    saturation_round: int | None = over_seeds()
    evidence: SelectionEvidence = field(default_factory=SelectionEvidence)

    def over_seeds(self) -> dict[str, float | None]:
        """The figures summarized over seeds, by name, in declaration order."""
        return {f.name: getattr(record, f.name)
                for record in (self, self.evidence) for f in dataclasses.fields(record)
                if f.metadata.get("over_seeds")}

    def to_dict(self) -> dict:
        """JSON-ready, the evidence's figures among the run's."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "evidence"}
        return {**flat, **dataclasses.asdict(self.evidence)}


# --- one run --------------------------------------------------------------------------

def run_metrics(run_dir: Path, kind: str, judged_by: RunConfig | None = None) -> RunMetrics:
    """Everything the summary needs from one run directory's store; the saturation round
    by `judged_by`'s rule (theta and window; the run's own by default)."""
    with RunDir.open(run_dir) as run:
        config, store = run.config, run.store
        judged_by = judged_by or config
        records = store.rounds()
        saturation_round = next((r.round for r in records if saturated(
            store, r.round, judged_by.saturation, judged_by.saturation_window)), None)
        calls = store.teacher_calls()
        targets = store.targets()
        scored = {r: store.scores(r) for r in store.scored_rounds()}
        needed = {s.example_id for scores in scored.values() for s in scores}
        pool = {e.id: e for e in store.examples(
            "pool", needed | {t.example_id for t in targets})}
        selections = {r.round: store.selection(r.round) or [] for r in records}
    costs = [r.cost_usd for r in records]
    accuracies = [r.test_accuracy for r in records]
    budget = config.budget_usd
    later_calls = [c for c in calls if c.round > 0]
    later_targets = [t for t in targets if t.round > 0]
    return RunMetrics(
        name=Path(run_dir).name, kind=kind, strategy=config.strategy,
        mode=config.mode, seed=config.seed, budget_usd=budget,
        costs=costs, accuracies=accuracies,
        confirmed=[r.confirmed_fraction for r in records],
        stop_reason=records[-1].stop_reason if records else "",
        cost_usd=costs[-1] if costs else None,
        final_accuracy=accuracies[-1] if accuracies else None,
        seed_round_cost_usd=costs[0] if costs else None,
        accuracy_before=records[0].accuracy_before if records else None,
        accuracy_at_half_budget=accuracy_at(costs, accuracies, budget / 2),
        targets=len(targets),
        output_tokens_per_target=_ratio(sum(c.output_tokens for c in calls), len(targets)),
        output_tokens_per_target_after_seed=_ratio(
            sum(c.output_tokens for c in later_calls), len(later_targets)),
        input_tokens_per_target_after_seed=_ratio(
            sum(c.input_tokens for c in later_calls), len(later_targets)),
        cost_per_target_after_seed=_ratio(sum(c.cost_usd for c in later_calls),
                                          len(later_targets)),
        saturation_round=saturation_round,
        evidence=selection_evidence(config, Scored(scored, selections, pool), calls,
                                    targets))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Scored:
    """A run's scored rounds: each round's candidates' scores and its selection, and
    the pool they came from (by id)."""

    scores: dict[int, list[Score]]
    selections: dict[int, list[str]]
    pool: dict[str, Example]


def selection_evidence(config: RunConfig, scored: Scored, calls: list[TeacherCall],
                       targets: list) -> SelectionEvidence:
    """What the selected questions look like and what the teacher found in them."""
    pool = scored.pool
    hidden = {}
    aurocs, selected_wrong, candidates_wrong = [], [], []
    for round, scores in scored.scores.items():
        for s in scores:
            hidden[s.example_id] = hidden_answer(pool[s.example_id], config.task)
        value = auroc_by_strategy(scores, hidden, config.seed)[
            MIXED.get(config.strategy, config.strategy)]
        if value is not None:
            aurocs.append(value)
        chosen = set(scored.selections.get(round, []))
        for s in scores:
            if hidden[s.example_id] is None:  # an unlabeled pool line: not known
                continue
            wrong = s.greedy_answer != hidden[s.example_id]
            candidates_wrong.append(wrong)
            if s.example_id in chosen:
                selected_wrong.append(wrong)
    revisions = [c for c in calls if c.op == "revise" and c.ok]
    errors = [c for c in revisions if c.reply.first_error is not None]
    lines = [len(c.request["steps"]) + 1 for c in errors]  # the answer line is last
    firsts = [c.reply.first_error for c in errors]
    later = [t for t in targets if t.round > 0]
    families = Counter(pool[t.example_id].task for t in later if t.example_id in pool)
    return SelectionEvidence(
        auroc=statistics.mean(aurocs) if aurocs else None,
        selected_wrong=_mean(selected_wrong),
        candidates_wrong=_mean(candidates_wrong),
        confirmed_overall=_ratio(len(revisions) - len(errors), len(revisions)),
        first_error_step=_mean(firsts),
        first_error_relative=_mean([f / n for f, n in zip(firsts, lines)]),
        first_error_at_step_1=_mean([f == 1 for f in firsts]),
        first_error_at_answer_line=_mean([f == n for f, n in zip(firsts, lines)]),
        steps_kept_per_revision=_mean([f - 1 for f in firsts]),
        target_steps_selected=_mean([len(t.steps) for t in later]),
        target_steps_seed_round=_mean([len(t.steps) for t in targets if t.round == 0]),
        selected_families={k: v / sum(families.values()) for k, v in
                           sorted(families.items())},
    )


def _mean(values: list) -> float | None:
    return statistics.mean(values) if values else None


# --- over seeds -----------------------------------------------------------------------

def spread(values: list[float | None]) -> dict:
    """Mean and sample standard deviation of the values that exist; `n` of them."""
    known = [v for v in values if v is not None]
    return {"mean": statistics.mean(known) if known else None,
            "std": statistics.stdev(known) if len(known) > 1 else 0.0 if known else None,
            "n": len(known), "of": len(values), "values": values}



def against_whole_pool(run: RunMetrics, ref: RunMetrics | None) -> dict[str, float | None]:
    """A grid run against the whole-pool reference of its seed: the cost to reach 90%
    and 100% of its accuracy (and as a share of its cost), and the final accuracy as a
    share of its."""
    shares = {}
    for share in (0.9, 1.0):
        key = f"cost_to_{round(share * 100)}pct_whole_pool"
        shares[key] = (cost_to_reach(run.costs, run.accuracies,
                                     share * ref.final_accuracy) if ref else None)
        shares[key + "_fraction"] = (shares[key] / ref.cost_usd if shares[key] is not None
                                     else None)
    shares["final_accuracy_of_whole_pool"] = (run.final_accuracy / ref.final_accuracy
                                              if ref and ref.final_accuracy else None)
    return shares


def summarize(runs: list[RunMetrics], baseline: tuple[str, str]) -> dict:
    """Per configuration, mean ± spread over seeds; the whole-pool reference; the
    comparisons with the `baseline` configuration (strategy, mode) the benchmark is
    for. JSON-ready."""
    grid = [r for r in runs if r.kind == "grid"]
    same_start_areas(grid)
    reference = {r.seed: r for r in runs if r.kind == "whole-pool"}
    shares = {r.name: against_whole_pool(r, reference.get(r.seed)) for r in grid}
    labels = list(dict.fromkeys((r.strategy, r.mode) for r in grid))
    budget = max((r.budget_usd for r in grid), default=0.0)
    configurations = []
    for strategy, mode in labels:
        members = [r for r in grid if (r.strategy, r.mode) == (strategy, mode)]
        values = [{**r.over_seeds(), **shares[r.name]} for r in members]
        keys = [*members[0].over_seeds(), "final_accuracy_of_whole_pool",
                *(k for k in shares[members[0].name] if k.startswith("cost_to_"))]
        configurations.append({
            "label": f"{strategy}/{mode}", "strategy": strategy, "mode": mode,
            "seeds": [r.seed for r in members],
            **{key: spread([v[key] for v in values]) for key in keys},
            "curve": mean_curve(members, budget),
            "selected_families": _mean_dicts([r.evidence.selected_families
                                              for r in members]),
        })
    refs = list(reference.values())
    whole_pool = ({"accuracy": spread([r.final_accuracy for r in refs]),
                   "cost_usd": spread([r.cost_usd for r in refs]),
                   "targets": spread([r.targets for r in refs]),
                   "output_tokens_per_target": spread(
                       [r.output_tokens_per_target for r in refs])} if refs else None)
    return {"budget_usd": budget, "configurations": configurations,
            "whole_pool": whole_pool, "comparisons": comparisons(grid, baseline),
            "runs": [{**r.to_dict(), **shares.get(r.name, {})} for r in runs]}


def same_start_areas(grid: list[RunMetrics]) -> None:
    """Each grid run's area from its seed's cheapest round 0 (module doc): runs of a
    seed compared over the same money."""
    starts: dict[int, float] = {}
    for r in grid:
        if r.costs:
            starts[r.seed] = min(starts.get(r.seed, r.costs[0]), r.costs[0])
    for r in grid:
        r.area = curve_area(r.costs, r.accuracies, r.budget_usd, starts.get(r.seed),
                            r.accuracy_before or 0.0)


def mean_curve(members: list[RunMetrics], budget: float) -> dict:
    """Accuracy at each cost of a common grid, mean and spread over the seeds."""
    costs = [budget * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    points = [spread([accuracy_at(r.costs, r.accuracies, c) for r in members])
              for c in costs]
    kept = [(c, p) for c, p in zip(costs, points) if p["n"] == p["of"]]
    return {"cost_usd": [c for c, _ in kept], "mean": [p["mean"] for _, p in kept],
            "std": [p["std"] for _, p in kept]}


def _mean_dicts(dicts: list[dict]) -> dict:
    keys = sorted({k for d in dicts for k in d})
    return {k: statistics.mean(d.get(k, 0.0) for d in dicts) for k in keys}



def interval(values: list[float | None], confidence: float = 0.95) -> dict:
    """`spread` of paired per-seed values, with a t confidence interval of their mean
    (`low`, `high`; None unless every seed has a value and there are at least two)."""
    entry = spread(values)
    entry["low"] = entry["high"] = None
    if entry["n"] == entry["of"] and entry["n"] >= 2:
        half = (stats.t.ppf((1 + confidence) / 2, entry["n"] - 1) * entry["std"]
                / entry["n"] ** 0.5)
        entry["low"], entry["high"] = entry["mean"] - half, entry["mean"] + half
    return entry



def comparisons(grid: list[RunMetrics], baseline: tuple[str, str]) -> dict:
    """The benchmark's questions, answered per seed (paired: the same pool, test set and
    seed round) and then over seeds, with 95% intervals:

    - against the baseline configuration (strategy, mode), per other configuration: the
      cost at which it first reaches the baseline's final accuracy, as a fraction of the
      baseline's cost ("never" counts as not reached; a seed whose baseline ends no
      higher than its seed round has nothing to reach and is left out); its area
      under accuracy vs cost minus the baseline's; its accuracy minus the baseline's at
      shares of the budget and at the end;
    - per strategy, each mode's teacher dollars and output tokens per training target
      after the seed round over annotate's (the rounds where every run's mode acts).
    """
    by = {(r.strategy, r.mode, r.seed): r for r in grid}
    seeds = sorted({r.seed for r in grid})
    budget = max((r.budget_usd for r in grid), default=0.0)
    result = {"baseline": "/".join(baseline), "against_baseline": {}, "per_target": {}}
    for strategy, mode in dict.fromkeys((r.strategy, r.mode) for r in grid):
        pairs = [(by.get((strategy, mode, s)), by.get((*baseline, s))) for s in seeds]
        pairs = [(x, b) for x, b in pairs if x and b]
        if (strategy, mode) != tuple(baseline) and pairs:
            result["against_baseline"][f"{strategy}/{mode}"] = {
                "cost_to_baseline_final": interval([_ratio_or_none(
                    cost_to_reach(x.costs, x.accuracies, b.final_accuracy),
                    b.cost_usd) for x, b in pairs if rose(b)]),
                "area": interval([_diff(x.area, b.area) for x, b in pairs]),
                "final_accuracy": interval([_diff(x.final_accuracy, b.final_accuracy)
                                            for x, b in pairs]),
                "accuracy_at": {str(share): interval([_diff(
                    accuracy_at(x.costs, x.accuracies, share * budget),
                    accuracy_at(b.costs, b.accuracies, share * budget))
                    for x, b in pairs]) for share in COST_SHARES},
            }
        annotated = [(by.get((strategy, mode, s)), by.get((strategy, "annotate", s)))
                     for s in seeds]
        annotated = [(x, a) for x, a in annotated if x and a]
        if mode != "annotate" and annotated:
            result["per_target"][f"{strategy}/{mode}"] = {
                key: interval([_ratio_or_none(getattr(x, key), getattr(a, key))
                               for x, a in annotated])
                for key in ("cost_per_target_after_seed",
                            "output_tokens_per_target_after_seed",
                            "input_tokens_per_target_after_seed")}
    return result


def rose(run: RunMetrics) -> bool:
    """Whether the run ended above its seed round's accuracy (else a baseline has no
    final accuracy for another run to reach)."""
    return bool(run.accuracies) and run.final_accuracy > run.accuracies[0]


def _ratio_or_none(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
