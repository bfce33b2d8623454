"""Step 3 of a round: which scored questions go to the teacher, within the budget.

Every strategy ranks the candidates by one number (see `RANKING`); `targeted` (the
default) weights ELAD's u(q) by how often the teacher found the student wrong among
similar questions, `adaptive` mixes ELAD's ranking with a coverage ranking of the pool by
the student's competence (docs/concepts.md; coverage.py, adaptive.py), and `oracle` (a
bench's ceiling) puts the student's wrong answers first; the number of each here is
ELAD's u(q). Ties are broken in a seeded random order (`tie_order`). Selection walks
down the ranking and takes each question that still fits in what is left (a question
that does not fit is skipped), until `size` questions are taken: each question is
counted at its expected cost, and the worst case of any one of them must fit on top of
the others' expected costs (`within_budget`). The
diversity filter (`unlike_chosen`) goes with any strategy: it also skips a question
whose student representation (cosine similarity of mean-pooled last hidden states,
`Student.embed`) is above `max_similarity` with one already taken.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from elad.coverage import interleave
from elad.types import Score
from elad.uncertainty import auroc

# strategy name -> what it ranks by (higher first); "random" shuffles instead.
RANKING: dict[str, Callable[[Score], float]] = {
    "entropy": lambda s: s.u_inter,
    "least-confidence": lambda s: s.least_confidence,
    "intra": lambda s: s.u_intra,
    "elad": lambda s: s.u,
}
# strategy -> the uncertainty ranking it starts from (and its number here): targeted
# weights it by the teacher's verdicts, adaptive mixes it with coverage of the pool
# (adaptive.py, coverage.py); oracle, a bench's ceiling and not a way to choose, puts
# first the questions the student answers wrongly (`errors_first`).
MIXED = {"adaptive": "elad", "targeted": "elad", "oracle": "elad"}
SCORED = ("random", *RANKING)  # the strategies with a value per question (diagnostics)
STRATEGIES = (*SCORED, *MIXED)  # every strategy's name (the config checks it)

Admit = Callable[[str, list[str]], bool]  # (candidate id, ids chosen so far) -> take it?


def strategy_values(strategy: str, scores: list[Score], seed: int) -> dict[str, float]:
    """What `strategy` ranks each question by; `random` draws a seeded uniform number,
    a mixed strategy (`MIXED`) gives its uncertainty ranking's number."""
    strategy = MIXED.get(strategy, strategy)
    if strategy == "random":
        rng = random.Random(seed)
        return {s.example_id: rng.random() for s in sorted(scores, key=lambda s: s.example_id)}
    return {s.example_id: RANKING[strategy](s) for s in scores}


def rank(strategy: str, scores: list[Score], seed: int,
         costs: dict[str, float] | None = None,
         weights: dict[str, float] | None = None) -> list[Score]:
    """Candidates in the order the strategy would send them to the teacher; with
    `costs` (expected dollars per question), by the strategy's value per dollar; with
    `weights` (`strategy=targeted`'s), by the value times the question's weight.
    `random` has no value to weigh: it draws uniformly whatever the costs."""
    values = strategy_values(strategy, scores, seed)
    if weights is not None:
        values = {qid: value * weights[qid] for qid, value in values.items()}
    if costs is not None and strategy != "random":
        values = {qid: value / max(costs[qid], 1e-12) for qid, value in values.items()}
    ties = tie_order([s.example_id for s in scores], seed)
    return sorted(scores, key=lambda s: (-values[s.example_id], ties[s.example_id]))


def tie_order(ids: list[str], seed: int) -> dict[str, int]:
    """A seeded random position per id, to break ties in a ranking. Answer entropy over K
    samples takes few values, so most candidates tie; broken by id, they would favour
    whatever the ids start with (a task's name, a source file's order)."""
    shuffled = sorted(ids)
    random.Random(f"ties-{seed}").shuffle(shuffled)
    return {qid: i for i, qid in enumerate(shuffled)}


def errors_first(ranked: list[str], scores: list[Score],
                 answers: dict[str, str | None]) -> list[str]:
    """`strategy=oracle`: `ranked` with the questions whose greedy answer is not the
    hidden answer (`answers`, known to a bench only) first, each part in its own order. It
    measures how much a selection that knew the student's errors would buy; a question
    with no known answer counts as right."""
    greedy = {s.example_id: s.greedy_answer for s in scores}
    return sorted(ranked, key=lambda qid: answers.get(qid) in (None, greedy[qid]))


def with_random_share(ranked: list[str], share: float, seed: int) -> list[str]:
    """`ranked` reordered so that a `share` of every prefix comes from a seeded random
    order of the same ids (each id once). Uncertainty alone never picks what the student
    gets wrong with confidence; a random share keeps some of it in every round."""
    if share <= 0:
        return ranked
    shuffled = sorted(ranked)
    random.Random(seed).shuffle(shuffled)
    return interleave(ranked, shuffled, share)


def auroc_by_strategy(scores: list[Score], hidden_answers: dict[str, str | None],
                      seed: int = 0) -> dict[str, float | None]:
    """The diagnostic: per strategy, the AUROC of its values for "the student's greedy
    answer is wrong" (hidden answers known for synthetic and dataset tasks)."""
    return aurocs_over(*known_and_wrong(scores, hidden_answers), seed)


def aurocs_over(known: list[Score], wrong: list[bool],
                seed: int) -> dict[str, float | None]:
    """Per strategy, the AUROC of its values over `known` for `wrong`."""
    result = {}
    for strategy in SCORED:  # a mixed strategy's value is its ranking's (MIXED)
        values = strategy_values(strategy, known, seed)
        result[strategy] = auroc([values[s.example_id] for s in known], wrong)
    return result


def known_and_wrong(scores: list[Score], hidden_answers: dict[str, str | None]
                    ) -> tuple[list[Score], list[bool]]:
    """The scores whose hidden answer is known (an unlabeled pool line's is not), and
    for each whether the student's greedy answer was wrong."""
    known = [s for s in scores if hidden_answers.get(s.example_id) is not None]
    return known, [s.greedy_answer != hidden_answers[s.example_id] for s in known]


ROUGH = 10  # fewer right (or wrong) answers than this: an AUROC too rough to read


@dataclass(frozen=True)
class Diagnostic:
    """The AUROCs over a set of scored questions, and the questions behind them."""

    aurocs: dict[str, float | None]  # {} when no question's answer is known
    scored: int  # questions scored
    known: int  # of them, those with a known answer: the AUROCs' questions
    wrong: int  # of those, the ones the student's greedy answer got wrong

    def few_known(self) -> str:
        """A line for a partly labeled pool, whose AUROCs stand on fewer questions
        (a helper's read 1.000 over 7, 6 of them wrong), or for answers all wrong or all
        right (no AUROC: a bare '-' for each strategy); "" when every one is known."""
        if self.known and self.wrong in (0, self.known):
            of = "" if self.known == self.scored else f", of the {self.scored},"
            known = (f"the one question whose answer is known{of} was" if self.known == 1
                     else f"all {self.known} questions whose answer is known{of} were")
            return (f"({known} answered {'wrong' if self.wrong else 'right'}: an AUROC "
                    "needs some of each)")
        if not self.known or self.known == self.scored:
            return ""
        rough = min(self.wrong, self.known - self.wrong) < ROUGH  # the rarer side decides
        return (f"(over the {self.known} of the {self.scored} questions whose answer is "
                f"known, {self.wrong} of them answered wrong"
                + ("; too few to tell the strategies apart)" if rough else ")"))


def diagnostic(scores: list[Score], hidden_answers: dict[str, str | None],
               seed: int) -> Diagnostic:
    """`auroc_by_strategy` with the counts behind it ({} when no answer is known: an
    unlabeled pool)."""
    known, wrong = known_and_wrong(scores, hidden_answers)  # once, for both
    aurocs = aurocs_over(known, wrong, seed) if known else {}
    return Diagnostic(aurocs, len(scores), len(known), sum(wrong))


def unlike_chosen(similarity: Callable[[str, str], float], max_similarity: float) -> Admit:
    """The diversity filter: admit a question only if it is at most `max_similarity`
    similar to every question already chosen."""
    return lambda qid, chosen: all(similarity(qid, other) <= max_similarity
                                   for other in chosen)


def within_budget(ids: list[str], size: int, worst_case: Callable[[str], float],
                  left: float, admit: Admit | None = None,
                  expected: Callable[[str], float] | None = None) -> list[str]:
    """The first `size` ids (that `admit` lets through, given those chosen before them)
    whose summed `expected` costs, plus the largest margin of one of them (worst case -
    expected), fit in `left` dollars: if each costs what it is expected to, any one of
    them can still reserve its worst case when it is sent last, so the round is sent
    whole. Without `expected`, each id is counted at its worst case."""
    chosen: list[str] = []
    total, margin = 0.0, 0.0
    for qid in ids:
        if len(chosen) == size:
            break
        worst = worst_case(qid)
        cost = worst if expected is None else min(worst, expected(qid))
        if total + cost + max(margin, worst - cost) > left + 1e-12:
            continue
        if admit and not admit(qid, chosen):
            continue
        chosen.append(qid)
        total += cost
        margin = max(margin, worst - cost)
    return chosen
