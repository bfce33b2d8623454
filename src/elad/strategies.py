"""Step 3 of a round: which scored questions go to the teacher, within the budget.

Every strategy ranks the candidates by one number (see `RANKING`); selection walks down
the ranking and takes each question whose worst-case teacher cost still fits in what is
left (a question that does not fit is skipped), until `size` questions are taken. The
diversity filter (`unlike_chosen`) goes with any strategy: it also skips a question
whose student representation (cosine similarity of mean-pooled last hidden states,
`Student.embed`) is above `max_similarity` with one already taken.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from elad.types import Score
from elad.uncertainty import auroc

# strategy name -> what it ranks by (higher first); "random" shuffles instead.
RANKING: dict[str, Callable[[Score], float]] = {
    "entropy": lambda s: s.u_inter,
    "least-confidence": lambda s: s.least_confidence,
    "intra": lambda s: s.u_intra,
    "elad": lambda s: s.u,
}
STRATEGIES = ("random", *RANKING)  # every strategy's name (the config checks against it)

Admit = Callable[[str, list[str]], bool]  # (candidate id, ids chosen so far) -> take it?


def strategy_values(strategy: str, scores: list[Score], seed: int) -> dict[str, float]:
    """What `strategy` ranks each question by; `random` draws a seeded uniform number."""
    if strategy == "random":
        rng = random.Random(seed)
        return {s.example_id: rng.random() for s in sorted(scores, key=lambda s: s.example_id)}
    return {s.example_id: RANKING[strategy](s) for s in scores}


def rank(strategy: str, scores: list[Score], seed: int,
         costs: dict[str, float] | None = None) -> list[Score]:
    """Candidates in the order the strategy would send them to the teacher; with
    `costs` (expected dollars per question), by the strategy's value per dollar."""
    values = strategy_values(strategy, scores, seed)
    if costs is not None:
        values = {qid: value / max(costs[qid], 1e-12) for qid, value in values.items()}
    return sorted(scores, key=lambda s: (-values[s.example_id], s.example_id))


def with_random_share(ranked: list[str], share: float, seed: int) -> list[str]:
    """`ranked` reordered so that a `share` of every prefix comes from a seeded random
    order of the same ids (each id once). Uncertainty alone never picks what the student
    gets wrong with confidence; a random share keeps some of it in every round."""
    if share <= 0:
        return ranked
    shuffled = sorted(ranked)
    random.Random(seed).shuffle(shuffled)
    sources = {True: iter(shuffled), False: iter(ranked)}
    order: list[str] = []
    taken: set[str] = set()
    drawn = 0  # positions filled from the random order
    while len(order) < len(ranked):
        by_chance = drawn < share * (len(order) + 1) - 1e-9
        qid = next(q for q in sources[by_chance] if q not in taken)
        order.append(qid)
        taken.add(qid)
        drawn += by_chance
    return order


def auroc_by_strategy(scores: list[Score], hidden_answers: dict[str, str],
                      seed: int = 0) -> dict[str, float | None]:
    """The diagnostic: per strategy, the AUROC of its values for "the student's greedy
    answer is wrong" (hidden answers known for synthetic and dataset tasks)."""
    known = [s for s in scores if hidden_answers.get(s.example_id) is not None]
    wrong = [s.greedy_answer != hidden_answers[s.example_id] for s in known]
    result = {}
    for strategy in STRATEGIES:
        values = strategy_values(strategy, known, seed)
        result[strategy] = auroc([values[s.example_id] for s in known], wrong)
    return result


def unlike_chosen(similarity: Callable[[str, str], float], max_similarity: float) -> Admit:
    """The diversity filter: admit a question only if it is at most `max_similarity`
    similar to every question already chosen."""
    return lambda qid, chosen: all(similarity(qid, other) <= max_similarity
                                   for other in chosen)


def within_budget(ids: list[str], size: int, worst_case: Callable[[str], float],
                  left: float, admit: Admit | None = None) -> list[str]:
    """The first `size` ids whose summed worst-case costs fit in `left` dollars (and
    that `admit` lets through, given those chosen before them)."""
    chosen: list[str] = []
    for qid in ids:
        if len(chosen) == size:
            break
        cost = worst_case(qid)
        if cost > left + 1e-12:
            continue
        if admit and not admit(qid, chosen):
            continue
        chosen.append(qid)
        left -= cost
    return chosen
