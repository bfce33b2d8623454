"""Label tasks (classification with reasons): the teacher is told the classes
(task.labels) and must answer one of them; `elad init` finds them in the answers. A choice
task's teacher is told to answer with the option's letter. Other answer types' prompts
and cache keys stay as earlier versions made them."""

import json

import pytest

from elad.cli import main
from elad.config import ConfigError, load_config
from elad.fakes.oracle_server import serve
from elad.init_data import guess_answer_type, labels_of
from elad.store import RunStore
from elad.tasks import load_task, synthetic
from elad.teacher.reply import InvalidReply, read_annotation, read_revision
from elad.teacher.request import TeacherRequest, answer_form_line, render
from elad.types import Explanation

from conftest import TINY, openai_overrides

TEACHER = {"teacher": "openai", "model": "m"}
LABELS = ("negative", "neutral", "positive")


def test_a_label_request_tells_the_teacher_its_classes_and_others_are_unchanged():
    """Keys made by earlier versions (these two were computed before labels existed)
    still hit: no other answer type's prompt or stored form changed."""
    yesno = TeacherRequest.annotate(TEACHER, "Is the sky blue?", "yesno", LABELS)
    assert yesno.labels == () and "must be one of" not in yesno.prompt
    assert yesno.key == "2bbb0feb0986a024c8fa144718cdd207cbb5b83411dc9ca243fd040f1e4d1578"
    revise = TeacherRequest.revise(TEACHER, "What is 2 + 3?", "number",
                                   Explanation(["2 + 3 = 6"], "6"), 1)
    assert revise.key == "6a88b2d294180666a6f93d2d29b2200e44ee1ea9bb70ea213a3bf4947e9678e0"
    line = 'The "answer" must be one of: "negative", "neutral", "positive".'
    told = TeacherRequest.annotate(TEACHER, "Review: fine.", "label", LABELS)
    for request in (told, TeacherRequest.revise(TEACHER, "Review: fine.", "label",
                                                Explanation(["It is ok"], "neutral"), 1,
                                                LABELS)):
        assert line in request.prompt.splitlines()
        assert TeacherRequest.from_dict(request.as_dict()) == request
    plain = TeacherRequest.annotate(TEACHER, "Review: fine.", "label")  # no classes known
    assert plain.key != told.key and "must be one of" not in plain.prompt


def test_a_choice_request_asks_for_the_options_letter_as_the_estimate_prices_it():
    question = "A train goes 60 km in 1.5 hours; its speed? Options: A) 40 B) 90"
    annotate = TeacherRequest.annotate(TEACHER, question, "choice", LABELS)
    revise = TeacherRequest.revise(TEACHER, question, "choice",
                                   Explanation(["60 / 1.5 = 40"], "A"), 1)
    for request in (annotate, revise):
        line = "The \"answer\" is the option's letter, A to E."
        assert line in request.prompt.splitlines()
        assert request.labels == ()  # task.labels are a label task's only
    form = answer_form_line("choice", ())
    assert render("annotate", question, answer_form=form) == annotate.prompt  # the dry
    # run counts what is sent


def test_a_question_that_holds_a_placeholder_is_sent_as_written():
    question = "Is '{steps}' or '{labels}' or '{answer_form}' a template? {hint}"
    request = TeacherRequest.annotate(TEACHER, question, "label", ("yes", "no"))
    assert f"Question: {question}\n" in request.prompt


def test_an_answer_outside_the_labels_is_refused_naming_them():
    reply = '{"steps": ["The guest praises the room"], "answer": "%s"}'
    with pytest.raises(InvalidReply, match=r"'Positive sentiment' is not one of the labels "
                                           r'\("negative", "neutral", "positive"\)'):
        read_annotation(reply % "Positive sentiment", "label", LABELS)
    assert read_annotation(reply % " Positive ", "label", LABELS)[1] == "positive"
    assert read_annotation(reply % "Positive sentiment", "label")[1] == "positive sentiment"
    # "no error" keeps the student's answer, which must be a label too
    with pytest.raises(InvalidReply, match="null, but the student's \"answer\" 'great'"):
        read_revision('{"first_error": null}', 1, "great", "label", LABELS)
    assert read_revision('{"first_error": null}', 1, "neutral", "label", LABELS) == (
        None, [], "neutral")


def test_labels_are_checked_against_the_answer_type_and_the_test_set(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"question": f"Review {i}"}) + "\n"
                            for i in range(30)))
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "Review a", "answer": "Positive"}) + "\n"
                    + json.dumps({"question": "Review b", "answer": "positve"}) + "\n")
    task = ["task.kind=jsonl", f"task.path={pool}", f"task.test_path={test}",
            "teacher.kind=reference"]
    with pytest.raises(ConfigError, match=r"task.labels are for task.answer_type = "
                                          r"\"label\" \(it is 'number'\): set it so, or "
                                          r"remove task.labels"):
        load_config(None, [*task, "task.answer_type=number", 'task.labels=["a", "b"]'])
    with pytest.raises(ConfigError, match=r"task.labels names one class \(yes\): a label "
                                          "task has two or more; list them all"):
        load_config(None, [*task, "task.answer_type=label", "task.labels=yes"])
    with pytest.raises(ConfigError, match="task.labels names an empty label"):
        load_config(None, [*task, "task.answer_type=label", 'task.labels=["a", " "]'])
    with pytest.raises(ConfigError, match=r"task.labels names a class twice \('Yes' and "
                                          r"'yes '\): classes are compared as answers are"):
        load_config(None, [*task, "task.answer_type=label", 'task.labels=["Yes", "yes "]'])
    stored = load_config(None, [*task, "task.answer_type=label", 'task.labels=["a", "b"]'])
    stored.task.labels = ["Yes", "yes "]  # a run stored before the check: it resumes
    assert load_config(None, ["budget_usd=2"], base=stored).task.labels == ["Yes", "yes "]
    with pytest.raises(ConfigError, match=r"""task.labels='\[a,b\]' is not a valid list """
                                          r"""\(write a,b or \["a", "b"\]\)"""):
        load_config(None, [*task, "task.answer_type=label", "task.labels=[a,b]"])
    config = load_config(None, [*task, "task.answer_type=label",
                                'task.labels=["negative", "positive"]'])
    with pytest.raises(ConfigError, match=r"test.jsonl:2: answer 'positve' is not one of "
                                          r"task.labels \(negative, positive\): fix the "
                                          r"line, or add its class to task.labels"):
        load_task(config.task, 0)


@pytest.mark.parametrize("answers, guessed", [
    (["Positive", "negative", "neutral", "Negative", "neutral", *["positive"] * 4],
     "label"),
    (["positive", "negative", "positive"], "text"),  # too few answers to tell classes
    # yes and no however spelled: not five classes that mean two
    (["N", "No", "no", "TRUE", "true", "false", "FALSE", "yes", "Yes.", "Y"] * 2, "yesno"),
    ([f"City {c}" for c in "ABCDEFGHIJKL"], "text"),  # every answer its own
    (["a long sentence of many words here", "another long sentence of many words"] * 3,
     "text"),
])
def test_init_guesses_a_label_task_from_few_short_classes(answers, guessed):
    assert guess_answer_type(answers) == guessed


def test_init_writes_each_class_as_it_is_most_often_written():
    answers = ["Heads", "heads", "Heads", "Tails ", "tails", "Tails", "HEADS"]
    assert labels_of(answers) == ["Heads", "Tails"]


def test_a_label_run_through_an_openai_teacher_asks_with_the_labels(tmp_path, capsys):
    """`elad init --answer-type label` lists the test set's classes; every request the
    run sends carries them, and every target answers with one of them."""
    data = synthetic.load(["coin_flip"], 80, 20, 0)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"question": e.question}) + "\n" for e in data.pool))
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"question": e.question,
                                        "answer": synthetic.solve(e.question)[1].upper()})
                            + "\n" for e in data.test))
    out = tmp_path / "run.toml"
    with serve() as (_, url):
        assert main(["init", str(out), "--data", str(pool), "--test", str(test),
                     "--answer-type", "label", "--teacher-model", "local-oracle",
                     "--base-url", url, "--api-key-env", "", "--price-input", "2.5",
                     "--price-output", "10", "--budget", "0.5"]) == 0
        assert "labels: NO, YES (task.labels" in capsys.readouterr().out
        assert load_config(out).task.labels == ["NO", "YES"]  # as the test set writes them
        options = [o for o in TINY if o.startswith("student.")] + [
            "max_rounds=1", "seed_size=8", "round_size=4", "candidates=8"]
        assert main(["-q", "run", str(out), *options, *openai_overrides(url)[1:],
                     "--run-dir", str(tmp_path / "run")]) == 0
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        calls = [c for r in (0, 1) for c in store.teacher_calls(r)]
        assert len(calls) == 12 and all(c.ok for c in calls)
        assert all(c.request["labels"] == ["NO", "YES"]
                   and 'must be one of: "NO", "YES".' in c.request["prompt"] for c in calls)
        # the teacher's "yes" is YES: a label's case and spacing are folded
        assert {t.answer for r in (0, 1) for t in store.targets(r)} <= {"no", "yes"}
