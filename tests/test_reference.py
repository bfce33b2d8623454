"""The reference teacher and its arithmetic checker, on hand-made steps and on the
GSM8K rationales themselves (as given, and with one corrupted step)."""

import asyncio
import random
import re

import pytest

from elad.budget import count_tokens
from elad.config import TaskConfig, TeacherConfig
from elad.teacher import make_teacher
from elad.teacher.arithmetic import first_wrong_step, numbers_in, step_problem
from elad.teacher.request import TeacherRequest, render
from elad.teacher.reference import ReferenceTeacher


def revise(teacher, question, steps, answer, hint=None):
    request = TeacherRequest.revise(teacher.identity(), question, "text", steps, answer, hint)
    return asyncio.run(teacher.revise(request, None))


def annotate(teacher, question):
    request = TeacherRequest.annotate(teacher.identity(), question, "text")
    return asyncio.run(teacher.annotate(request, None))

Q = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
     "clips in May. How many clips did Natalia sell altogether in April and May?")


def test_right_arithmetic_passes_in_marks_and_plain_text():
    steps = ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
             "Natalia sold 48 + 24 = 72 clips altogether."]
    assert first_wrong_step(Q, steps) is None
    assert first_wrong_step(Q, ["In May: 48 x 1/2 = 24", "48+24 = 72"]) is None
    assert first_wrong_step(Q, ["2 * 24 - 48 = 48 - 48 = 0"]) is None  # a chain


@pytest.mark.parametrize("steps, number, reason", [
    (["Natalia sold 48/2 = <<48/2=25>>25 clips in May."], 1, "48/2 is not 25"),
    (["In May: 48/2 = 24", "48 + 24 = 82"], 2, "48 + 24 is not 82"),
    (["In May: 48/2 = 24", "48 + 35 = 83"], 2, "35 is neither in the question"),
    (["48/2 = 24", "2 * 24 - 48 = 46 - 48 = 0"], 2, "is not 46"),
    (["48/2 = <<48/2=24)>>24"], 1, "cannot read"),
])
def test_wrong_step_is_found_with_its_reason(steps, number, reason):
    found = first_wrong_step(Q, steps)
    assert found is not None and found[0] == number and reason in found[1]


def test_numbers_a_solver_may_use():
    known = numbers_in("A shirt costs $1,200 and is 20% off; twice a week, forty-five "
                       "minutes, 1 1/2 hours.")
    assert {1200, 20, 0.2, 2, 45, 1.5} <= known
    # percent as a decimal, as a factor, and units of time are usable; 17 is not
    assert step_problem("1200 * .2 = 240", set(known)) is None
    assert step_problem("1200 * 0.8 = 960", set(known)) is None
    assert step_problem("45 / 60 = 0.75", set(known)) is None
    assert "17 is neither" in step_problem("1200 - 17 = 1183", set(known))
    # a number stated in an earlier step (not only computed) is usable later
    assert first_wrong_step("How old is Ann?", ["Ann was 13 then.", "13 + 4 = 17"]) is None
    # text that is not arithmetic is not checked, and cannot be found wrong
    assert first_wrong_step(Q, ["She sold many clips.", "60 students x 2/3 = 40"]) is None


@pytest.fixture(scope="module")
def gsm8k_teacher(shared_data):
    return ReferenceTeacher.from_task(TaskConfig(kind="gsm8k", path=str(shared_data / "gsm8k")),
                                      max_output_tokens=1024)


@pytest.fixture(scope="module")
def test_rationales(gsm8k_teacher):
    return [s for s in gsm8k_teacher.by_question.values() if s.id.startswith("gsm8k-test")]


def test_dataset_rationales_are_confirmed(gsm8k_teacher, test_rationales):
    flagged = []
    for solved in test_rationales:
        reply = revise(gsm8k_teacher, solved.question, list(solved.steps), solved.answer, None)
        assert reply.ok
        if reply.first_error is not None:
            found = first_wrong_step(solved.question, list(solved.steps))
            flagged.append((solved.id, reply.first_error, found and found[1]))
    print(f"\nGSM8K test rationales confirmed: {len(test_rationales) - len(flagged)} of "
          f"{len(test_rationales)}; flagged:")
    for item in flagged:
        print("  ", *item)
    assert len(test_rationales) == 1319
    assert len(flagged) <= 0.01 * len(test_rationales)


def corrupt(step: str, rng: random.Random) -> str | None:
    """One wrong number in a step's last calculator mark "a op b = c": its result (and
    the number written after it) off by 2-9, or one operand replaced by a number from
    nowhere with the result recomputed. None if the step has no such mark."""
    marks = [m for m in re.finditer(r"<<([^<>=]*)=([^<>=]*)>>([\d.,]*)", step)
             if re.search(r"\d\s*[-+*/]", m.group(1))]
    if not marks:
        return None
    mark = marks[-1]
    expression, result = mark.group(1), mark.group(2)
    if rng.random() < 0.5:
        wrong = float(result) + rng.randint(2, 9)
        new = f"<<{expression}={wrong:g}>>{wrong:g}"
    else:
        number = re.search(r"\d+(?:\.\d+)?", expression)
        foreign = f"{7919 + rng.randint(0, 50)}"
        expression = expression[:number.start()] + foreign + expression[number.end():]
        value = eval(expression)  # the test's own arithmetic on digits and + - * /
        new = f"<<{expression}={value:g}>>{value:g}"
    return step[:mark.start()] + new + step[mark.end():]


def test_one_corrupted_step_is_the_first_error(gsm8k_teacher, test_rationales):
    rng = random.Random(0)
    confirmed = [s for s in test_rationales
                 if first_wrong_step(s.question, list(s.steps)) is None]
    checked = exact_continuations = 0
    for solved in rng.sample(confirmed, 400):
        steps = list(solved.steps)
        marked = [i for i, step in enumerate(steps) if corrupt(step, random.Random(0))]
        if not marked:
            continue
        i = rng.choice(marked)
        steps[i] = corrupt(steps[i], rng)
        reply = revise(gsm8k_teacher, solved.question, steps, solved.answer, None)
        assert reply.first_error == i + 1, (solved.id, steps[i])
        # the continuation is the reference from the matching point on
        assert list(solved.steps[len(solved.steps) - len(reply.steps):]) == reply.steps
        assert len(reply.steps) <= len(solved.steps) - i
        exact_continuations += reply.steps == list(solved.steps[i:])
        assert reply.answer == solved.answer
        checked += 1
    print(f"\ncorrupted rationales: {checked}, first error found in all; continuation "
          f"from the corrupted step itself in {exact_continuations}")
    assert checked >= 200
    assert exact_continuations >= 0.9 * checked


def test_right_steps_with_a_wrong_answer_blame_the_answer_line(gsm8k_teacher,
                                                               test_rationales):
    solved = test_rationales[0]
    steps = list(solved.steps)
    reply = revise(gsm8k_teacher, solved.question, steps[:-1], "5", hint=None)
    assert reply.first_error == len(steps)  # the answer line after n - 1 right steps
    assert reply.steps == steps[-1:]  # the reference continues with its last step
    reply = revise(gsm8k_teacher, solved.question, steps, "123456", hint=None)
    assert reply.first_error == len(steps) + 1 and reply.steps == []


def test_tokens_are_counted_as_for_the_oracle(gsm8k_teacher, test_rationales):
    solved = test_rationales[1]
    reply = annotate(gsm8k_teacher, solved.question)
    assert reply.steps == list(solved.steps) and reply.answer == solved.answer
    assert reply.input_tokens == count_tokens(render("annotate", solved.question))
    confirm = revise(gsm8k_teacher, solved.question, list(solved.steps), solved.answer, 2)
    assert confirm.input_tokens == count_tokens(
        render("revise", solved.question, list(solved.steps), solved.answer, 2))
    assert confirm.output_tokens < reply.output_tokens / 2
    unknown = annotate(gsm8k_teacher, "What is the airspeed of a swallow?")
    assert not unknown.ok and "not in the dataset" in unknown.error


def test_choice_answers_are_checked_by_answer_only(shared_data):
    teacher = make_teacher(TeacherConfig(kind="reference", max_output_tokens=1024),
                           TaskConfig(kind="aqua", path=str(shared_data / "aqua")))
    solved = next(iter(teacher.by_question.values()))
    assert revise(teacher, solved.question, ["Some step."], solved.answer, None).first_error \
        is None
    wrong = "B" if solved.answer != "B" else "C"
    reply = revise(teacher, solved.question, ["Some step."], wrong, None)
    assert reply.first_error == 1 and reply.steps == list(solved.steps)
