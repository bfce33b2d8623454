"""Reading real teachers' replies: JSON found in fences or prose, every field checked."""

import json
import random

import pytest

from elad.fakes.oracle_answers import oracle_answer
from elad.tasks.synthetic import make_question, solve
from elad.teacher.reply import (
    InvalidReply,
    read_annotation,
    read_revision,
    reply_from_text,
)
from elad.teacher.request import render


def test_annotation_in_a_code_fence_with_numbered_steps():
    text = '```json\n{"steps": ["1. 3 + 4 = 7", "Step 2: 7 - 6 = 1"], "answer": "1"}\n```'
    assert read_annotation(text, "number") == (["3 + 4 = 7", "7 - 6 = 1"], "1")


def test_json_inside_prose_and_multiline_steps_and_numeric_answer():
    text = 'Sure! {"steps": ["a is 3\\nb is 4", "The answer is 7"], "answer": 7} Hope it helps.'
    assert read_annotation(text, "number") == (["a is 3", "b is 4"], "7")


def test_a_json_true_or_false_is_a_yes_or_no_answer():
    """llama.cpp's and Ollama's JSON modes let a model answer `true`: it was refused (and
    asked again, paid) on the yes/no and label tasks docs/data.md says take true/false."""
    assert read_annotation('{"steps": ["Birds fly"], "answer": true}', "yesno") == (
        ["Birds fly"], "yes")
    assert read_annotation('{"steps": ["No"], "answer": false}', "label",
                           labels=("no", "yes")) == (["No"], "no")
    with pytest.raises(InvalidReply, match='"answer" false is not a valid number answer'):
        read_annotation('{"steps": ["x"], "answer": false}', "number")
    # labels (or a text answer) that say true or false keep the word
    assert read_annotation('{"steps": ["x"], "answer": true}', "label",
                           labels=("true", "false")) == (["x"], "true")
    assert read_annotation('{"steps": ["x"], "answer": true}', "text") == (["x"], "true")


@pytest.mark.parametrize("text, reason", [
    ("The answer is 7.", "no JSON object"),
    ('{"steps": ["x"], "answer": "seven"}', "not a valid number answer"),
    ('{"steps": [], "answer": "7"}', '"steps" is empty'),
    ('{"steps": "3 + 4 = 7", "answer": "7"}', "list of strings"),
    ('["3 + 4 = 7"]', "not an object"),
    ('{"steps": ["x"], "answer": "7",}', "not valid JSON"),
])
def test_unusable_annotations_say_why(text, reason):
    with pytest.raises(InvalidReply, match=reason):
        read_annotation(text, "number")


def test_the_prompts_example_copied_back_is_refused_and_answers_say_their_form():
    """A weak teacher copies the annotate prompt's example: paid for, it is no
    annotation of the question (a 270M model did so for every question)."""
    example = render("annotate", "Is the review positive or negative? Great food.")
    copied = example[example.index('{"steps"'):].split("\n")[0]
    with pytest.raises(InvalidReply, match="the example's from the prompt"):
        read_annotation(copied, "label")
    with pytest.raises(InvalidReply, match=r"'4' is not a valid yesno answer \(it "
                                           r'should be "yes" or "no"\)'):
        read_annotation('{"steps": ["Birds fly"], "answer": "4"}', "yesno")
    with pytest.raises(InvalidReply, match="it should be the option's letter, A to E"):
        read_annotation('{"steps": ["12 + 2 = 14"], "answer": "14"}', "choice")


def test_revision_fields():
    text = '{"first_error": 2, "continuation": ["7 - 6 = 1"], "answer": "1"}'
    assert read_revision(text, 2, "5", "number") == (2, ["7 - 6 = 1"], "1")
    # the answer line (step n + 1) may be the only wrong one: no continuation needed
    assert read_revision('{"first_error": 3, "continuation": [], "answer": "1"}', 2, "5",
                         "number") == (3, [], "1")
    # a wrong step past the solution (the oracles' reply to a step too many): the steps
    # before it reach the answer, with nothing to add
    assert read_revision('{"first_error": 2, "continuation": [], "answer": "1"}', 2, "5",
                         "number") == (2, [], "1")
    # a confirmation keeps the student's own answer
    assert read_revision('{"first_error": null}', 2, "5", "number") == (None, [], "5")


@pytest.mark.parametrize("text, student_answer, reason", [
    ('{"first_error": 4, "continuation": ["x"], "answer": "1"}', "5", "1 to 3"),
    ('{"first_error": 0, "continuation": ["x"], "answer": "1"}', "5", "1 to 3"),
    ('{"first_error": true, "continuation": ["x"], "answer": "1"}', "5", "step number or"),
    ('{"first_error": "2", "continuation": ["x"], "answer": "1"}', "5", "step number or"),
    ('{"first_error": 1, "continuation": [], "answer": "1"}', "5", "first step is wrong"),
    ('{"continuation": ["x"], "answer": "1"}', "5", "missing"),
    ('{"first_error": null}', None, "gave no answer"),
    ('{"first_error": 1, "continuation": ["x"], "answer": "maybe"}', "5", "not a valid"),
])
def test_unusable_revisions_say_why(text, student_answer, reason):
    with pytest.raises(InvalidReply, match=reason):
        read_revision(text, 2, student_answer, "number")


def test_reply_from_text_builds_teacher_replies():
    reply = reply_from_text("revise", '{"first_error": 1, "continuation": ["yes"], '
                            '"answer": "Yes"}', "yesno", 1, "no")
    assert (reply.op, reply.first_error, reply.steps, reply.answer, reply.ok) == \
        ("revise", 1, ["yes"], "yes", True)


def test_the_oracle_servers_reply_to_a_step_too_many_is_usable():
    """A student that goes on past the solution gets "first_error": the extra step and
    no continuation from the oracle server; elad refused that reply and paid for
    three tries of it (about 5% of a run's spend through the server)."""
    question = next(q for q in (make_question("arithmetic", random.Random(seed))
                                for seed in range(50)) if len(solve(q)[0]) >= 2)
    steps, answer = solve(question)
    extra = [*steps, "Then, check: 1 + 1 = 2"]
    reply = json.dumps(oracle_answer(render("revise", question, extra, answer)))
    assert read_revision(reply, len(extra), answer, "number") == (len(steps) + 1, [], answer)
