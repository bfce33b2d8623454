"""Saturation in every mode (docs/concepts.md, "Saturation"; issue 24 item 5): the teacher
found the student right when its answer is the student's, whether it annotated the
question or revised the student's explanation, so a run in mode=auto, whatever its mix of
the two, can saturate."""

from elad.budget import Budget
from elad.config import load_config
from elad.context import Run
from elad.loop import ask_teacher, round_record
from elad.rundir import RunDir
from elad.stopping import round_verdicts
from elad.tasks.synthetic import solve
from elad.teacher.gateway import annotate_request, answer_type
from elad.teacher.request import TeacherRequest
from elad.types import Explanation, Score

from conftest import TINY


def round_one(tmp_path, student_right: int, op: str = "annotate"
              ) -> tuple[list[bool], str, float]:
    """Round 1 of a mode=auto run whose 8 selected questions the teacher annotates (or
    revises: the student's explanations have a wrong first step, and their answers are
    right for the first `student_right` of them): the confirmed flags, the stop reason
    and the confirmed fraction."""
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
        identity = run.gateway.teacher.identity()
        requests = {e.id: annotate_request(run.gateway.teacher, e, ()) if op == "annotate"
                    else TeacherRequest.revise(identity, e.question, answer_type(e),
                                               Explanation(["a wrong first step"], a), None)
                    for e, a in zip(questions, answers)}
        ask_teacher(run, 1, requests, Budget(1.0))
        record = round_record(run, 1, 0.5, {})
        confirmed = round_verdicts(run.store, 1)
        reason = run.stop(record)
        calls = run.store.teacher_calls()
        assert {c.op for c in calls} == {op}
        if op == "revise":  # the teacher corrected every explanation's first step
            assert all(c.reply.first_error == 1 for c in calls)
    return confirmed, reason, record.confirmed_fraction


def test_annotations_with_the_students_answer_saturate_the_run(tmp_path):
    confirmed, reason, fraction = round_one(tmp_path, student_right=8)
    assert confirmed == [True] * 8 and fraction == 1.0
    assert reason == "saturated"


def test_annotations_that_correct_the_student_do_not(tmp_path):
    confirmed, reason, fraction = round_one(tmp_path, student_right=4)
    assert confirmed == [True] * 4 + [False] * 4 and fraction == 0.5
    assert reason == ""  # not stopped: the budget, the pool and the rounds go on


def test_revisions_that_keep_the_students_answer_saturate_the_run(tmp_path):
    """A step corrected under the student's own answer changes nothing a test measures
    (and a real teacher's revisions often reword a right chain)."""
    confirmed, reason, fraction = round_one(tmp_path, student_right=8, op="revise")
    assert confirmed == [True] * 8 and fraction == 1.0
    assert reason == "saturated"


def test_revisions_that_change_the_answer_do_not(tmp_path):
    confirmed, reason, fraction = round_one(tmp_path, student_right=2, op="revise")
    assert confirmed == [True] * 2 + [False] * 6 and fraction == 0.25
    assert reason == ""
