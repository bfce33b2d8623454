"""The selection diagnostic from the store alone: how well each strategy's score, over
the candidates a run scored itself, predicted that the student's greedy answer is wrong
(AUROC against the hidden answers; nothing is recomputed). An unlabeled pool has
none: the diagnostic is then not available. `elad run` prints it and
`elad report` shows it; scoring a pool anew is `elad score` (pool_scores.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elad.config import RunConfig
from elad.rundir import RunDir
from elad.store import RunStore
from elad.strategies import auroc_by_strategy
from elad.tasks import hidden_answer

NOT_AVAILABLE = "no scored question has a known answer (an unlabeled pool)"
ROUGH = 10  # fewer right (or wrong) answers than this: an AUROC too rough to read


@dataclass(frozen=True)
class Diagnostic:
    """A scoring round's AUROCs and the questions behind them."""

    aurocs: dict[str, float | None]  # {} when no candidate's answer is known
    scored: int  # candidates scored
    known: int  # of them, those with a known answer: the AUROCs' questions
    wrong: int  # of those, the ones the student's greedy answer got wrong

    def few_known(self) -> str:
        """A line for a partly labeled pool, whose AUROCs stand on fewer questions
        (a helper's read 1.000 over 7, 6 of them wrong); "" when every one is known."""
        if not self.known or self.known == self.scored:
            return ""
        rough = min(self.wrong, self.known - self.wrong) < ROUGH  # the rarer side decides
        return (f"  (over the {self.known} of the {self.scored} candidates whose answer "
                f"is known, {self.wrong} of them answered wrong"
                + ("; too few to tell the strategies apart)" if rough else ")"))


def selection_diagnostic(run_dir: Path) -> tuple[int, Diagnostic] | None:
    """The diagnostic over the candidates the run itself scored in its last scoring
    round, or None if no round was scored."""
    with RunDir.open(run_dir) as run:
        rounds = run.store.scored_rounds()
        if not rounds:
            return None
        return rounds[-1], round_diagnostic(run.store, run.config, rounds[-1])


def round_diagnostic(store: RunStore, config: RunConfig, round: int) -> Diagnostic:
    """AUROC per strategy over the candidates scored in `round` (by the round - 1
    student), against their hidden answers; none when no answer is known
    (NOT_AVAILABLE)."""
    scores = store.scores(round)
    pool = {e.id: e for e in store.examples("pool", [s.example_id for s in scores])}
    hidden = {s.example_id: hidden_answer(pool[s.example_id], config.task) for s in scores}
    known = [s for s in scores if hidden[s.example_id] is not None]
    wrong = sum(s.greedy_answer != hidden[s.example_id] for s in known)
    aurocs = auroc_by_strategy(scores, hidden, config.seed) if known else {}
    return Diagnostic(aurocs, len(scores), len(known), wrong)


def round_aurocs(store: RunStore, config: RunConfig, round: int) -> dict[str, float | None]:
    """`round_diagnostic`'s AUROCs alone."""
    return round_diagnostic(store, config, round).aurocs


def format_aurocs(aurocs: dict[str, float | None]) -> str:
    """The selection diagnostic, one strategy a line: 0.5 is chance, 1 is perfect."""
    lines = ["AUROC of each strategy's score for 'the student's greedy answer is wrong':"]
    if not aurocs:
        return f"{lines[0]} not available: {NOT_AVAILABLE}"
    for name, value in aurocs.items():
        lines.append(f"  {name:>16}  {'-' if value is None else f'{value:.3f}'}")
    return "\n".join(lines)
