"""What a run will cost before it pays anything: the offline estimate printed by
`elad run --dry-run`, at the end of `elad init`, and by `elad teacher check`.

It renders the real annotate prompt of the pool's questions (all of them, or a seeded
sample of `SAMPLE`), counts their tokens as the budget does (`budget.count_tokens`, and
the teacher's worst case as the gateway reserves it), prices them with the run's prices
(`budget.teacher_prices`: the config's or the price table's), and walks the run's rounds
as the loop and the stop rule do: round 0 takes `seed_size` questions that fit at their
worst case, each later round `round_size` at their expected cost, until `max_rounds`, the
pool or the budget (`stopping.fewest_left`, `budget.round_quota`) ends it. No teacher has
replied yet, so a reply is assumed half of `teacher.max_output_tokens` long unless a
measured length is given (`elad teacher check` gives its reply's). Saturation and the
forecast rule can end a run sooner; they depend on the student, so no estimate names them.

Once a run has replies, `whole_pool` prices annotating its whole pool from what they
cost instead: the most `elad plan` ever proposes. A test set the teacher annotates
(testset.py) is held out of the pool and paid first, out of the budget, as the run does:
the rounds get what is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from elad.asking import revises
from elad.budget import (
    Prices,
    count_tokens,
    mean_cost,
    round_quota,
    teacher_prices,
    usd,
)
from elad.config import RunConfig, TeacherConfig
from elad.run_forecast import WholePool
from elad.stopping import fewest_left
from elad.store import RunStore
from elad.tasks.synthetic import TaskData
from elad.teacher import make_teacher
from elad.teacher.gateway import annotate_request
from elad.teacher.request import answer_form_line, render
from elad.testset import hold_out, teacher_test_size
from elad.types import Example, TeacherCall

SAMPLE = 2000  # questions whose prompts are counted; a larger pool is sampled (seeded)
OFFLINE_TEACHERS = ("oracle", "reference")  # free to ask: the estimate measures replies
OFFLINE_SAMPLE = 20  # questions an offline teacher annotates for the estimate
STUDENT_BYTES_PER_TOKEN = 4  # a revision's worst case: the student's steps, in bytes


@dataclass(frozen=True)
class Costs:
    """Dollars of one request (or of several, summed): as expected, and at worst."""

    expected: float
    worst: float

    def times(self, n: int) -> Costs:
        return Costs(self.expected * n, self.worst * n)


@dataclass(frozen=True)
class Estimate:
    """The teacher requests a run makes, what they cost, and what ends the run."""

    pool: int  # questions the run may ask about
    counted: int  # of them, those whose prompts were counted
    prompt_tokens: float  # an annotate prompt's mean tokens
    reply_tokens: int  # a reply's assumed (or measured) tokens
    annotation: Costs  # one annotation, on average
    later: Costs  # one request of a later round (a revision in mode=revise)
    seeding: Costs  # one request of round 0: `later` when a ranking student revises it
    seed: int  # requests of round 0
    rounds: tuple[int, ...]  # requests of each later round
    limit: str  # what ends the run: "budget", "max_rounds" or "pool"
    test: int  # teacher-annotated test questions, held out of the pool (counted apart)
    budget: float  # what the rounds may spend: budget_usd less the test set's dollars
    measured: int = 0  # offline replies whose length `reply_tokens` is (0: assumed)

    @property
    def requests(self) -> int:
        return self.seed + sum(self.rounds)

    @property
    def run(self) -> Costs:
        """The run's dollars (the worst case never above the budget: it is hard)."""
        return Costs(self.seed * self.seeding.expected + sum(self.rounds) * self.later.expected,
                     self.seed * self.seeding.worst + sum(self.rounds) * self.later.worst)

    @property
    def whole_pool(self) -> Costs:
        """Annotating every pool question instead: the honest alternative."""
        return self.annotation.times(self.pool)

    @property
    def test_set(self) -> Costs:
        return self.annotation.times(self.test)


def whole_pool(store: RunStore, config: RunConfig) -> WholePool:
    """What the run would have paid in all had it annotated its whole pool: what it paid
    so far, plus the questions not yet asked at what its annotations so far cost for
    their length (`by_length`; of any reply, if none was one; this estimate's, if none
    came back)."""
    calls, pool = store.teacher_calls(), store.examples("pool")
    asked = {c.example_id for c in calls}
    unasked = [len(e.question) for e in pool if e.id not in asked]
    paid = store.call_totals()["cost_usd"]
    annotated = [c for c in calls if c.op == "annotate" and c.ok]
    if len(annotated) >= 5:
        return WholePool(len(pool), paid + by_length(annotated, unasked))
    each = mean_cost(annotated)
    if each is None:
        each = mean_cost(calls)
    if each is None:
        each = estimate(config, [e.question for e in pool]).annotation.expected
    return WholePool(len(pool), paid + len(unasked) * each)


def by_length(annotated: list[TeacherCall], lengths: list[int]) -> float:
    """What annotating questions of these `lengths` (characters) costs, by a straight line
    through the `annotated` calls' cost against their question's length: a strategy's
    picks are no sample of the pool (the most uncertain are the longest: their mean
    cost put a targeted run's whole pool 15-22% above what annotating it cost). Each
    question is priced within the costs seen (a line through a narrow range of lengths
    goes anywhere beyond it); a line that falls, noise, gives the mean cost."""
    x = np.array([len(c.request.get("question", "")) for c in annotated], dtype=float)
    y = np.array([c.cost_usd for c in annotated])
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))
    if slope < 0:
        slope, intercept = 0.0, float(y.mean())
    priced = np.clip(intercept + slope * np.array(lengths, dtype=float), y.min(), y.max())
    return float(priced.sum())


def worst_input(config: TeacherConfig) -> Callable[[str], int]:
    """The most input tokens the teacher of `config` can bill for a prompt (what the
    gateway reserves: teacher.worst_case_input_tokens), made without an API key."""
    if config.kind == "openai":
        from elad.teacher.openai import worst_input_tokens

        return lambda prompt: worst_input_tokens([{"role": "user", "content": prompt}])
    return count_tokens


def estimate(config: RunConfig, questions: list[str], reply_tokens: int | None = None,
             input_scale: float = 1.0, test: int = 0) -> Estimate:
    """The estimate for a run of `config` on a pool of `questions` (what is left once
    `test` questions are held out for the teacher to annotate as the test set: they are
    paid first, out of the budget). `reply_tokens`: a reply's length (default half the
    output limit); `input_scale`: the teacher's tokens per `count_tokens` token (1 unless
    a reply has measured it)."""
    prices = teacher_prices(config.teacher)
    reply = (max(1, config.teacher.max_output_tokens // 2) if reply_tokens is None
             else reply_tokens)
    counted = (questions if len(questions) <= SAMPLE
               else random.Random(0).sample(questions, SAMPLE))
    form = answer_form_line(config.task.answer_type, config.task.labels)
    annotate = [render("annotate", q, answer_form=form) for q in counted]
    annotation = _mean_costs(annotate, 0, reply, config, prices, input_scale)
    later = annotation
    if config.mode == "revise":  # the student's steps, assumed as long as a reply
        later = _mean_costs([render("revise", q, answer_form=form) for q in counted], reply,
                            reply, config, prices, input_scale)
    seeding = later if revises(config, 0) else annotation
    rounds_budget = config.budget_usd - annotation.expected * test  # the test set paid first
    seed, rounds, limit = plan(config, len(questions), seeding, later, rounds_budget)
    tokens = sum(count_tokens(p) for p in annotate) / max(1, len(annotate))
    return Estimate(len(questions), len(counted), tokens, reply, annotation, later, seeding,
                    seed, tuple(rounds), limit, test, rounds_budget)


def _mean_costs(prompts: list[str], steps_tokens: int, reply: int, config: RunConfig,
                prices: Prices, input_scale: float) -> Costs:
    """The mean expected and worst-case dollars of a request of each of `prompts`, whose
    student steps (a revision's) add `steps_tokens` tokens."""
    worst_of = worst_input(config.teacher)
    steps_worst = STUDENT_BYTES_PER_TOKEN * config.student.max_new_tokens if steps_tokens else 0
    expected = [prices.cost(round((count_tokens(p) + steps_tokens) * input_scale), reply)
                for p in prompts]
    worst = [prices.cost(worst_of(p) + steps_worst, config.teacher.max_output_tokens)
             for p in prompts]
    n = max(1, len(prompts))
    return Costs(sum(expected) / n, sum(worst) / n)


def plan(config: RunConfig, pool: int, seeding: Costs, later: Costs, budget: float
         ) -> tuple[int, list[int], str]:
    """(round 0's requests, each later round's, what ends the run), walking the rounds
    as the loop selects (strategies.within_budget) and the stop rule stops
    (stopping.StopRule: the pool, then the budget, then max_rounds) with `budget`
    dollars for the rounds; `seeding`, `later`: a request's costs in round 0 and after.
    A run whose rounds the budget made smaller than they would be is ended by the
    budget, whichever rule stops it."""
    left = budget
    seed = min(config.seed_size, pool, _fitting(left, seeding.worst, None))
    cut = seed < min(config.seed_size, pool)  # by the budget
    left -= seed * seeding.expected
    asked, rounds, paid = seed, [], seeding.expected
    while True:
        if asked >= pool:
            return seed, rounds, "pool"
        if left + 1e-12 < paid:  # the stop rule: not one more request
            return seed, rounds, "budget"
        if len(rounds) >= config.max_rounds:
            return seed, rounds, "budget" if cut else "max_rounds"
        quota = round_quota(config.round_size, fewest_left(config, len(rounds) + 1), left,
                            later.expected)
        n = min(quota, pool - asked, _fitting(left, later.worst, later.expected))
        if n <= 0:
            return seed, rounds, "budget"
        cut = cut or n < min(config.round_size, pool - asked)
        rounds.append(n)
        asked, left, paid = asked + n, left - n * later.expected, later.expected


def _fitting(left: float, worst: float, expected: float | None) -> int:
    """How many requests fit in `left` dollars: each at `worst` (no `expected`), or at
    `expected` with room for one more at its worst (strategies.within_budget)."""
    cost = worst if expected is None else expected
    margin = 0.0 if expected is None else worst - expected
    if cost <= 0:
        return sys.maxsize if margin <= left + 1e-12 else 0
    return max(0, int((left - margin + 1e-12) // cost))


def format_estimate(result: Estimate, config: RunConfig) -> str:
    """The estimate as a few lines for a terminal."""
    prices = teacher_prices(config.teacher)
    counted = ("all of them" if result.counted == result.pool
               else f"a sample of {result.counted:,}")
    lines = [
        (f"estimate (offline{'' if result.measured else ', no teacher call'}): teacher "
         f"{config.teacher.model}, "
         f"${prices.input_per_mtok:g} / ${prices.output_per_mtok:g} per million input / "
         "output tokens"),
        (f"  pool: {result.pool:,} questions; annotate prompts {result.prompt_tokens:.0f} "
         f"tokens on average (counted on {counted}); {replies_text(result, config)}"),
        f"  this run: {run_line(result, config)}",
        f"  what ends it: {limit_line(result, config)}",
        (f"  annotating the whole pool instead: {result.pool:,} requests, about "
         f"{usd(result.whole_pool.expected)} (at most {usd(result.whole_pool.worst)})"),
    ]
    if result.test:
        lines.append(f"  teacher-annotated test set: {result.test:,} requests, about "
                     f"{usd(result.test_set.expected)} (at most "
                     f"{usd(result.test_set.worst)}), counted apart from the run's")
    return "\n".join(lines)


def cannot_start(result: Estimate, config: RunConfig) -> str | None:
    """Why the run cannot begin (None if it can): the budget does not cover the
    teacher-annotated test set at its worst case (testset.py's refusal), or then one
    request."""
    if result.test and result.test_set.worst > config.budget_usd + 1e-12:
        return (f"it cannot start: budget_usd={usd(config.budget_usd)} does not cover the "
                f"teacher annotating the {result.test:,} test questions at their worst "
                f"case, about {usd(result.test_set.worst)}; raise budget_usd or give "
                "labeled test questions (task.test_path)")
    if not result.requests:
        return (f"no teacher request fits: budget_usd={usd(config.budget_usd)}"
                + (", less the test set's annotations (below)," if result.test else "")
                + f" does not cover one {seed_request(config)} at its worst case, "
                f"{usd(result.seeding.worst)}; raise budget_usd")
    return None


def run_line(result: Estimate, config: RunConfig) -> str:
    """The run's requests and dollars, or why it cannot start."""
    if reason := cannot_start(result, config):
        return reason
    kinds = {"revise": "revisions: their prompts carry the student's steps, assumed as "
                       "long as a reply",
             "auto": "priced as annotations: auto revises only where that is expected "
                     "to cost less"}
    run = result.run
    return (f"{result.requests:,} teacher requests ({rounds_text(result)}), about "
            f"{usd(run.expected)}; at most {usd(min(run.worst, result.budget))} if every "
            f"reply reached teacher.max_output_tokens={config.teacher.max_output_tokens}"
            + (f"; {'all its' if revises(config, 0) else 'later'} rounds are "
               f"{kinds[config.mode]}" if config.mode in kinds else ""))


def seed_request(config: RunConfig) -> str:
    """What a request of round 0 is priced as."""
    return "revision" if config.mode == "revise" and revises(config, 0) else "annotation"


def rounds_text(result: Estimate) -> str:
    """The requests of each round: "100 in round 0, then 50, 50, 50, 30"."""
    text = f"{result.seed:,} in round 0"
    if not result.rounds:
        return text
    if len(result.rounds) > 8:
        return text + f", then {sum(result.rounds):,} in {len(result.rounds)} rounds"
    return text + ", then " + ", ".join(f"{n:,}" for n in result.rounds)


def limit_line(result: Estimate, config: RunConfig) -> str:
    """Which limit ends the run first, and what the others would have allowed."""
    planned = config.seed_size + config.max_rounds * config.round_size
    expected = result.annotation.expected
    affordable = int(max(0.0, result.budget) // expected) if expected > 0 else None
    after_test = " after the test set" if result.test else ""
    budget = (f"budget_usd={usd(config.budget_usd)} would pay for about "
              f"{affordable:,} annotations{after_test}" if affordable is not None
              else f"budget_usd={usd(config.budget_usd)} (the teacher is free)")
    rounds = (f"max_rounds={config.max_rounds} allows {planned:,} requests (seed_size "
              f"{config.seed_size} + {config.max_rounds} x round_size {config.round_size})")
    pool = f"the pool has {result.pool:,} questions"
    first = {"budget": f"the budget, after {result.requests:,} requests; {rounds}; {pool}",
             "max_rounds": f"max_rounds, after {result.requests:,} requests; {budget}; "
                           f"{pool}",
             "pool": f"the pool, after all {result.pool:,} of its questions; {budget}; "
                     f"{rounds}"}[result.limit]
    sooner = [rule for rule, on in (("saturation", config.saturation < 1),
                                    ("the forecast rule", config.stop_gain_per_usd > 0)) if on]
    return first + (f" ({' or '.join(sooner)} may end it sooner)" if sooner else "")


def estimate_run(config: RunConfig, reply_tokens: int | None = None,
                 input_scale: float = 1.0) -> Estimate:
    """The estimate for `config` on the pool its task gives (read, not asked about),
    less the test set the teacher would annotate, held out as the run holds it out."""
    from elad.tasks import load_task

    return estimate_task(config, load_task(config.task, config.seed), reply_tokens,
                         input_scale)


def estimate_task(config: RunConfig, data: TaskData, reply_tokens: int | None = None,
                  input_scale: float = 1.0) -> Estimate:
    """The estimate for `config` on `data`: its pool less the questions held out for
    the teacher's test set (testset.teacher_test_size, testset.hold_out: the run's own
    choice, and its ConfigError when they leave too few). An offline teacher's replies
    are measured (`offline_replies`) unless `reply_tokens` is given."""
    test = teacher_test_size(config, data)
    pool = hold_out(config, data.pool, test)[0] if test else data.pool
    billed = offline_replies(config, pool) if reply_tokens is None else []
    if billed:
        reply_tokens = max(1, round(sum(billed) / len(billed)))
    result = estimate(config, [e.question for e in pool], reply_tokens, input_scale, test)
    return dataclasses.replace(result, measured=len(billed))


def offline_replies(config: RunConfig, pool: list[Example]) -> list[int]:
    """The output tokens an offline teacher (oracle, reference) bills for annotating
    each of a seeded sample of `pool`: it is free to ask, so its replies are measured
    (none for an LLM: its replies are assumed half its output limit)."""
    if config.teacher.kind not in OFFLINE_TEACHERS:
        return []
    teacher = make_teacher(config.teacher, config.task)
    sample = random.Random(0).sample(pool, min(OFFLINE_SAMPLE, len(pool)))
    return [asyncio.run(teacher.complete(annotate_request(teacher, e, config.task.labels),
                                         None)).output_tokens for e in sample]


def replies_text(result: Estimate, config: RunConfig) -> str:
    """How long the estimate takes a reply to be, and whether that was measured."""
    if result.measured:
        return (f"replies {result.reply_tokens} tokens on average (the "
                f"{config.teacher.kind} teacher's to {result.measured} pool questions, "
                "asked offline)")
    return f"replies assumed {result.reply_tokens} tokens"
