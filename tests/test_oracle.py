"""The oracle's first-error detection on crafted wrong explanations, and its noise."""

import asyncio
import random

from elad.budget import count_tokens
from elad.teacher.oracle import OracleTeacher, corrupt
from elad.teacher.request import TeacherRequest, render
from elad.types import Explanation

Q = "Start with 3. First, add 4. Second, subtract 6. Third, add 2. What is the result?"
RIGHT = ["First, add 4: 3 + 4 = 7", "Second, subtract 6: 7 - 6 = 1",
         "Third, add 2: 1 + 2 = 3"]


def revise(oracle, steps, answer, hint=None):
    request = TeacherRequest.revise(oracle.identity(), Q, "number",
                                    Explanation(steps, answer), hint)
    return asyncio.run(oracle.complete(request, None))


def annotate(oracle, question=Q):
    request = TeacherRequest.annotate(oracle.identity(), question, "number")
    return asyncio.run(oracle.complete(request, None))


def test_right_explanation_is_confirmed_with_a_short_reply():
    oracle = OracleTeacher()
    reply = revise(oracle, RIGHT, "3", hint=None)
    assert reply.ok and reply.first_error is None and reply.steps == []
    annotation = annotate(oracle)
    assert reply.output_tokens < annotation.output_tokens / 2


def test_wrong_middle_step_is_found_and_continued():
    steps = [RIGHT[0], "Second, subtract 6: 7 - 6 = 2", "Third, add 2: 2 + 2 = 4"]
    reply = revise(OracleTeacher(), steps, "4", hint=2)
    assert reply.first_error == 2
    assert reply.steps == RIGHT[1:] and reply.answer == "3"


def test_first_error_is_the_earliest_one():
    steps = ["First, add 4: 3 + 4 = 8", "Second, subtract 6: 8 - 6 = 2", RIGHT[2]]
    assert revise(OracleTeacher(), steps, "3", None).first_error == 1


def test_missing_step_is_an_error_at_that_position():
    reply = revise(OracleTeacher(), RIGHT[:2], "1", None)
    assert reply.first_error == 3 and reply.steps == RIGHT[2:]


def test_extra_step_is_an_error():
    reply = revise(OracleTeacher(), [*RIGHT, "Fourth, add 1: 3 + 1 = 4"], "4", None)
    assert reply.first_error == 4 and reply.steps == [] and reply.answer == "3"


def test_right_steps_but_wrong_answer_blames_the_answer_line():
    reply = revise(OracleTeacher(), RIGHT, "7", None)
    assert reply.first_error == 4 and reply.answer == "3"


def test_unparsed_answer_is_an_error_and_whitespace_is_not():
    assert revise(OracleTeacher(), RIGHT, None, None).first_error == 4
    spaced = ["First,  add 4: 3 + 4 = 7", RIGHT[1] + " ", RIGHT[2]]
    assert revise(OracleTeacher(), spaced, "3", None).first_error is None


def test_tokens_are_counted_on_the_rendered_prompt():
    reply = revise(OracleTeacher(), RIGHT, "3", hint=2)
    assert reply.input_tokens == count_tokens(render("revise", Q, RIGHT, "3", 2))
    assert "least sure at step 2" in render("revise", Q, RIGHT, "3", 2)
    assert "3. Third, add 2: 1 + 2 = 3\n4. The answer is 3." in render("revise", Q, RIGHT, "3")


def test_reply_longer_than_max_tokens_is_not_usable():
    reply = annotate(OracleTeacher(max_output_tokens=10))
    assert not reply.ok and "max_output_tokens" in reply.error


def test_noise_makes_that_fraction_of_replies_wrong_and_is_repeatable():
    questions = [f"Start with {a}. First, add {b}. Second, subtract 2. What is the result?"
                 for a in range(10) for b in range(1, 11)]
    clean, noisy = OracleTeacher(), OracleTeacher(noise=0.3)
    wrong = [annotate(noisy, q).steps != annotate(clean, q).steps for q in questions]
    assert 0.2 <= sum(wrong) / len(wrong) <= 0.4
    assert [annotate(noisy, q).steps for q in questions[:20]] == \
        [annotate(noisy, q).steps for q in questions[:20]]
    assert sum(annotate(OracleTeacher(noise=1.0), q).steps != annotate(clean, q).steps
               for q in questions) == len(questions)


def test_corrupt_changes_exactly_one_step_ending():
    rng = random.Random(1)
    for _ in range(20):
        wrong = corrupt(RIGHT, rng)
        changed = [i for i in range(3) if wrong[i] != RIGHT[i]]
        assert len(changed) == 1
        i = changed[0]
        assert wrong[i].rsplit(" ", 1)[0] == RIGHT[i].rsplit(" ", 1)[0]
    assert corrupt(["heads, Ann flips it: tails"], rng) == ["heads, Ann flips it: heads"]
    assert corrupt(["no ending to change."], rng) == ["no ending to change."]
