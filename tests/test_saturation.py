"""Saturation in every mode (docs/concepts.md, "Saturation"; issue 24 item 5): a question
the teacher annotated with the student's own answer tells the same story as a confirmed
revision, so a run in mode=auto, where most requests are annotations, can saturate."""

from elad.budget import Budget
from elad.config import load_config
from elad.context import Run
from elad.loop import ask_teacher, round_record
from elad.rundir import RunDir
from elad.stopping import round_verdicts
from elad.tasks.synthetic import solve
from elad.teacher.gateway import annotate_request
from elad.types import Score

from conftest import TINY


def round_one(tmp_path, student_right: int) -> tuple[list[bool], str, float]:
    """Round 1 of a mode=auto run whose 8 selected questions the teacher annotates and
    whose student answered the first `student_right` of them right: the confirmed
    flags, the stop reason and the confirmed fraction."""
    # theta 0.7: 8 of 8 confirmed show it with 90% confidence (the bound is 0.75)
    config = load_config(None, [*TINY, "mode=auto", "saturation=0.7"])
    with RunDir.create(tmp_path / "run", config) as rundir:
        run = Run.start(config, rundir, None)
        questions = run.pool[:8]
        answers = [solve(e.question)[1] if i < student_right else "no such answer"
                   for i, e in enumerate(questions)]
        run.store.save_scoring(1, {}, {}, [Score(e.id, 0.0, 0.0, 0.0, 0, None, [a, a],
                                                 greedy_answer=a)
                                           for e, a in zip(questions, answers)])
        requests = {e.id: annotate_request(run.gateway.teacher, e) for e in questions}
        ask_teacher(run, 1, requests, Budget(1.0))
        record = round_record(run, 1, 0.5, {})
        confirmed = round_verdicts(run.store, 1)
        reason = run.stop(record)
        assert {c.op for c in run.store.teacher_calls()} == {"annotate"}
    return confirmed, reason, record.confirmed_fraction


def test_annotations_with_the_students_answer_saturate_the_run(tmp_path):
    confirmed, reason, fraction = round_one(tmp_path, student_right=8)
    assert confirmed == [True] * 8 and fraction == 1.0
    assert reason == "saturated"


def test_annotations_that_correct_the_student_do_not(tmp_path):
    confirmed, reason, fraction = round_one(tmp_path, student_right=4)
    assert confirmed == [True] * 4 + [False] * 4 and fraction == 0.5
    assert reason == ""  # not stopped: the budget, the pool and the rounds go on
