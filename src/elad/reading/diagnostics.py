"""The selection diagnostic from the store alone: how well each strategy's score, over
the candidates a run scored itself, predicted that the student's greedy answer is wrong
(AUROC against the hidden answers; nothing is recomputed). An unlabeled pool has
none: the diagnostic is then not available. `elad run` prints it and
`elad report` shows it; scoring a pool anew is `elad score` (pool_scores.py)."""

from __future__ import annotations

from pathlib import Path

from elad.config import RunConfig
from elad.rundir import RunDir
from elad.store import RunStore
from elad.strategies import Diagnostic, diagnostic
from elad.tasks import hidden_answer

NOT_AVAILABLE = "no scored question has a known answer (an unlabeled pool)"


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
    return diagnostic(scores, hidden, config.seed)


def format_aurocs(found: Diagnostic) -> str:
    """The selection diagnostic, one strategy a line: 0.5 is chance, 1 is perfect; on a
    partly labeled pool, how many questions it stands on."""
    lines = ["AUROC of each strategy's score for 'the student's greedy answer is wrong':"]
    if not found.aurocs:
        return f"{lines[0]} not available: {NOT_AVAILABLE}"
    for name, value in found.aurocs.items():
        lines.append(f"  {name:>16}  {'-' if value is None else f'{value:.3f}'}")
    if found.few_known():
        lines.append(f"  {found.few_known()}")
    return "\n".join(lines)
