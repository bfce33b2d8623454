"""Step 3 of a round: which scored questions go to the teacher, within the budget.

Every strategy ranks the candidates by one number; selection walks down the ranking and
takes each question whose worst-case teacher cost still fits in what is left (a question
that does not fit is skipped), until `size` questions are taken.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from elad.types import Score

# strategy name -> what it ranks by (higher first); "random" shuffles instead.
RANKING: dict[str, Callable[[Score], float]] = {
    "entropy": lambda s: s.u_inter,
    "intra": lambda s: s.u_intra,
    "elad": lambda s: s.score,
}
STRATEGIES = ("random", *RANKING)


def rank(strategy: str, scores: list[Score], seed: int) -> list[Score]:
    """Candidates in the order the strategy would send them to the teacher."""
    if strategy == "random":
        ranked = sorted(scores, key=lambda s: s.example_id)
        random.Random(seed).shuffle(ranked)
        return ranked
    key = RANKING[strategy]
    return sorted(scores, key=lambda s: (-key(s), s.example_id))


def within_budget(ids: list[str], size: int, worst_case: Callable[[str], float],
                  left: float) -> list[str]:
    """The first `size` ids whose summed worst-case costs fit in `left` dollars."""
    chosen = []
    for qid in ids:
        if len(chosen) == size:
            break
        cost = worst_case(qid)
        if cost <= left + 1e-12:
            chosen.append(qid)
            left -= cost
    return chosen
