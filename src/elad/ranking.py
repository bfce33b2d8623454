"""The order a round's candidates are offered to the budget in, for any strategy: what
each strategy reads besides the scores, in one place (the loop takes the first b that
fit: loop.affordable).

A scored strategy ranks by the scores (strategies.rank), weighted for `targeted` by how
often the teacher found the student wrong near each candidate (adaptive.py) and by value
per expected dollar with `cost_aware`; `oracle` (a bench's ceiling) puts the student's
errors first; `adaptive` mixes in coverage of the pool (coverage.py); every strategy but
`random` then gives a share `explore` of every prefix to a random order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from elad.adaptive import adaptive_ranking, targeted_weights
from elad.asking import Requests, expected_costs
from elad.seeding import phase_seed
from elad.strategies import errors_first, rank, with_random_share
from elad.tasks import hidden_answer
from elad.types import Example

if TYPE_CHECKING:
    from elad.context import Run
    from elad.explain import Scored
    from elad.student.protocol import Student


def ranked_candidates(run: Run, round: int, student: Student, candidates: list[Example],
                      scored: Scored, requests: Requests) -> list[str]:
    """The ids of `candidates`, scored by `student` as `scored`, in the order the
    strategy offers them to round `round`'s budget."""
    config, store = run.config, run.store
    # cost_aware: rank by value per expected dollar
    costs = expected_costs(run, requests, scored) if config.cost_aware else None
    # targeted: towards where the teacher found the student wrong (adaptive.py)
    weights = (targeted_weights(student, store, candidates,
                                phase_seed(config, round, "clusters"))
               if config.strategy == "targeted" else None)
    ranked = [s.example_id for s in rank(config.strategy, scored.scores,
                                         phase_seed(config, round, "rank"), costs,
                                         weights)]
    if config.strategy == "oracle":  # a bench's ceiling: it knows the student's errors
        ranked = errors_first(ranked, scored.scores,
                              {e.id: hidden_answer(e, config.task) for e in candidates})
    if config.strategy == "adaptive":  # coverage of the pool mixed in (coverage.py)
        ranked = adaptive_ranking(student, store, candidates, scored.scores, ranked,
                                  phase_seed(config, round, "clusters"))
    if config.strategy != "random":  # random needs no random share
        ranked = with_random_share(ranked, config.explore,
                                   phase_seed(config, round, "explore"))
    return ranked
