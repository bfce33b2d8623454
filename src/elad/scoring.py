"""Round steps 1-2 where `scale.engine` says: in this process (explain.py) or on the
actors of a Ray cluster (ray_scoring.py); the same `Scored` result either way."""

from __future__ import annotations

from pathlib import Path

from elad.config import RunConfig
from elad.explain import Scored, explain_and_score
from elad.student.protocol import Student
from elad.types import Example


def score_candidates(config: RunConfig, examples: list[Example], seed: int,
                     checkpoint: Path | None, student: Student | None = None) -> Scored:
    """Steps 1-2 with the config's K, temperature and alpha, where `scale.engine` says:
    in this process (with `student`, or the one saved in `checkpoint`), or on the actors
    of a Ray cluster, which load the student saved in `checkpoint` (none: the untrained
    student of round 0, here)."""
    if config.scale.engine == "ray" and checkpoint is not None:
        from elad.scale.ray_scoring import explain_and_score_on_ray

        return explain_and_score_on_ray(config, checkpoint, examples, seed)
    from elad.tasks import answer_type

    if student is None:
        from elad.student import load_student

        student = load_student(config.student, checkpoint)
    return explain_and_score(student, examples, answer_type, config, seed)
