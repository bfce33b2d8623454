"""`elad score`: why would each question be chosen? Scores pool questions with the
student of a given round and writes one JSON line per question, then prints how well each
strategy's score predicts the student's mistakes (the AUROC diagnostic). Questions the
teacher was asked about are left out, as a round's candidates leave them out.

    elad score --run-dir runs/default --round 2 --out scores.jsonl

Scoring needs the student (torch). The same diagnostic over the candidates a run scored
itself reads the store only: reading/diagnostics.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from elad.rundir import RunDir
from elad.scoring import score_candidates
from elad.seeding import phase_seed
from elad.strategies import SCORED, Diagnostic, diagnostic, strategy_values
from elad.tasks import hidden_answer
from elad.types import Score


def score_pool(run_dir: Path, round: int | None, limit: int, out: Path
               ) -> tuple[int, Diagnostic, int]:
    """Score up to `limit` pool questions (a seeded sample of those the teacher was not
    asked about up to `round`, as the next round's candidates are) with the student
    saved after `round` (default: the last one); returns the round used, the diagnostic
    (no AUROC when no question has a known answer) and how many asked questions were
    left out (a student trained on them answers them from memory)."""
    with RunDir.open(run_dir) as run:
        config = run.config
        round = run.trained_round(round)
        asked = run.store.attempted_ids(up_to_round=round)
        pool = run.store.example_ids("pool")  # ids: a pool may be huge
        ids = [i for i in pool if i not in asked]
        rng = random.Random(phase_seed(config, round, "score"))
        drawn = rng.sample(ids, min(limit, len(ids)))
        by_id = {e.id: e for e in run.store.examples("pool", drawn)}
        checkpoint = run.checkpoint(round)
    examples = [by_id[qid] for qid in drawn]
    scored = score_candidates(config, examples, phase_seed(config, round, "score-explain"),
                              checkpoint)
    hidden = {e.id: hidden_answer(e, config.task) for e in examples}
    write_lines(out, examples, scored.scores, scored.explanations, hidden, config.seed)
    return round, diagnostic(scored.scores, hidden, config.seed), len(pool) - len(ids)


def write_lines(out: Path, examples, scores: list[Score], explanations, hidden,
                seed: int) -> None:
    values = {name: strategy_values(name, scores, seed) for name in SCORED}
    questions = {e.id: e.question for e in examples}
    with open(out, "w") as f:
        for s in scores:
            chosen = explanations[s.example_id][s.chosen]
            step = s.least_stable_step
            f.write(json.dumps({
                "id": s.example_id, "question": questions[s.example_id],
                "scores": {name: round(values[name][s.example_id], 6) for name in SCORED},
                "u_inter": s.u_inter, "u_intra": s.u_intra, "answers": s.answers,
                "greedy_answer": s.greedy_answer, "hidden_answer": hidden[s.example_id],
                "chosen_explanation": chosen.steps, "least_stable_step": step,
                "least_stable_text": chosen.steps[step - 1] if step and step <= len(
                    chosen.steps) else None,
            }) + "\n")

