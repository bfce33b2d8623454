"""The reference teacher and its arithmetic checker, on hand-made steps and on the
GSM8K rationales themselves (as given, with one corrupted step, with a step that leaves
the way to the answer, mangled), and the targets of a whole run on GSM8K."""

import asyncio
import random
import re

import pytest

from elad.answers import normalize_answer
from elad.budget import count_tokens
from elad.config import TaskConfig, TeacherConfig, load_config
from elad.loop import run
from elad.store import RunStore
from elad.tasks import reference_solutions
from elad.teacher import make_teacher
from elad.teacher.arithmetic import (
    first_wrong_step,
    last_computed_number,
    numbers_in,
    scan,
    step_problem,
    target_is_coherent,
)
from elad.teacher.reference import (
    INCOHERENT,
    ReferenceTeacher,
    first_off_track_step,
    first_unreadable_step,
    on_track_numbers,
    vocabulary,
)
from elad.teacher.request import TeacherRequest, render
from elad.types import Explanation

from conftest import TINY


def revise(teacher, question, steps, answer, hint=None):
    request = TeacherRequest.revise(teacher.identity(), question, "text",
                                    Explanation(steps, answer), hint)
    return asyncio.run(teacher.complete(request, None))


def annotate(teacher, question):
    request = TeacherRequest.annotate(teacher.identity(), question, "text")
    return asyncio.run(teacher.complete(request, None))


def target(steps, reply):
    """The target a loop makes of a revise reply: the steps before the first error, then
    the teacher's."""
    kept = steps if reply.first_error is None else steps[:reply.first_error - 1]
    return kept + reply.steps


def find(teacher, question_start):
    return next(s for s in teacher.by_question.values()
                if s.question.startswith(question_start))

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


def test_number_forms_people_write():
    known = numbers_in("Four and a half hours; three and a half miles; a $350 000 house; "
                       "it was -3 degrees; 12 200-kilobyte videos.")
    assert {4.5, 3.5, 350_000, -3, 12, 200} <= known and 12_200 not in known
    # thousands set off by spaces, as in GSM8K's test rationales
    assert step_problem("The fee is $350 000 x 5/100 = $<<350000*5/100=17500>>17500.",
                        set(known)) is None
    assert step_problem("The total is $350 000 + $17500 = $367 500.", {350_000, 17500}) \
        is None
    # units and dollars inside calculator marks
    assert step_problem("Two bags weigh <<5*2kg=10kg>>10kg.", {5.0}) is None
    assert step_problem("Two bags cost <<$5*2=$10>>$10.", {5.0}) is None
    assert step_problem("They walk <<3.5 miles * 2=7 miles>>7 miles.", set(known)) is None
    assert "is not 11" in step_problem("Two bags weigh <<5kg*2=11kg>>11kg.", {5.0})


@pytest.fixture(scope="module")
def gsm8k_teacher(shared_data):
    return ReferenceTeacher.from_task(TaskConfig(kind="gsm8k", path=str(shared_data / "gsm8k")),
                                      max_output_tokens=1024)


@pytest.fixture(scope="module")
def test_rationales(gsm8k_teacher):
    return [s for s in gsm8k_teacher.by_question.values() if s.id.startswith("gsm8k-test")]


def test_an_unreadable_equation_keeps_its_numbers_for_later_steps(gsm8k_teacher,
                                                                 test_rationales):
    # GSM8K test line 9, its third step written with a stray parenthesis: "(30*.5 = 15"
    # cannot be read, and the sixth step adds its 15 (before, "15 is neither in the
    # question nor an earlier result")
    solved = find(gsm8k_teacher, "John drives for 3 hours at a speed of 60 mph")
    steps = list(solved.steps)
    steps[2] = "In half an hour he goes (30*.5 = 15 miles"
    assert first_wrong_step(solved.question, steps) is None
    reply = revise(gsm8k_teacher, solved.question, steps, solved.answer)
    assert reply.ok and reply.first_error is None
    # the same on every test rationale, one step's mark written so: nothing blamed (the
    # checker used to blame a later step in 260 of 1212)
    checked = 0
    for number, solved in enumerate(test_rationales):
        steps = list(solved.steps)
        if len(steps) < 2 or first_wrong_step(solved.question, steps) is not None:
            continue
        i = number % (len(steps) - 1)
        marks = list(re.finditer(r"<<([^<>=]*)=([^<>=]*)>>", steps[i]))
        if marks:
            steps[i] = f"So it is ({marks[-1].group(1)} = {marks[-1].group(2)}."
            assert first_wrong_step(solved.question, steps) is None, (solved.id, steps)
            checked += 1
    assert checked > 1000
    # GSM8K's "(2/3*6=4 miles per hour)" leaves its 4 stated too
    assert 4 in numbers_in(scan("for a speed of (2/3*6=4 miles per hour).")[1])


def test_dataset_rationales_are_confirmed(gsm8k_teacher, test_rationales):
    flagged, incoherent = [], []
    for solved in test_rationales:
        reply = revise(gsm8k_teacher, solved.question, list(solved.steps), solved.answer, None)
        if not reply.ok:  # a rationale that contradicts its own answer is not taught
            assert reply.error == INCOHERENT
            assert not target_is_coherent(list(solved.steps), solved.answer)
            assert not annotate(gsm8k_teacher, solved.question).ok
            incoherent.append(solved.id)
        elif reply.first_error is not None:
            found = first_wrong_step(solved.question, list(solved.steps))
            flagged.append((solved.id, reply.first_error, found and found[1]))
    confirmed = len(test_rationales) - len(flagged) - len(incoherent)
    print(f"\nGSM8K test rationales confirmed: {confirmed} of {len(test_rationales)}; "
          f"steps contradict the answer: {incoherent}; flagged:")
    for item in flagged:
        print("  ", *item)
    assert len(test_rationales) == 1319
    assert len(flagged) + len(incoherent) <= 0.01 * len(test_rationales)


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
                 if first_wrong_step(s.question, list(s.steps)) is None
                 and target_is_coherent(list(s.steps), s.answer)]
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
        assert target_is_coherent(target(steps, reply), reply.answer)
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


def test_wrong_answer_with_every_equation_right_blames_the_step_that_leaves_the_way(
        gsm8k_teacher):
    # Janet's ducks (GSM8K test line 1), the muffins added instead of taken away: every
    # equation is right, and keeping the steps would teach 17 * 2 = 34 with answer 18
    solved = find(gsm8k_teacher, "Janet’s ducks lay 16 eggs per day.")
    steps = ["Janet sells 16 - 3 + 4 = <<16-3+4=17>>17 duck eggs a day.",
             "She makes 17 * 2 = $<<17*2=34>>34 every day at the farmer’s market."]
    assert first_wrong_step(solved.question, steps) is None
    reply = revise(gsm8k_teacher, solved.question, steps, "34")
    assert reply.first_error == 1 and reply.steps == list(solved.steps)
    # the reference's first step, then an answer too early: the answer line is wrong
    reply = revise(gsm8k_teacher, solved.question, list(solved.steps[:1]), "9")
    assert reply.first_error == 2 and reply.steps == list(solved.steps[1:])


def leave_the_way(step: str) -> tuple[str, float] | None:
    """A step computing something else from the same numbers: the first operator of the
    step's last calculator mark changed (+ to -, - to +, * to +, / to *), written with a
    right result. None if the step has no such mark."""
    marks = [m for m in re.finditer(r"<<([^<>=]*)=([^<>=]*)>>", step)
             if re.search(r"\d\s*[-+*/]", m.group(1))]
    if not marks:
        return None
    expression = marks[-1].group(1)
    sign = re.search(r"(?<=[\d)])\s*([-+*/])", expression)
    swapped = {"+": "-", "-": "+", "*": "+", "/": "*"}[sign.group(1)]
    expression = expression[:sign.start(1)] + swapped + expression[sign.end(1):]
    value = eval(expression)  # the test's own arithmetic on digits and + - * / ( )
    return f"So it is {expression} = <<{expression}={value:g}>>{value:g}.", float(f"{value:g}")


def test_every_equation_right_and_the_answer_wrong_on_gsm8k(gsm8k_teacher, test_rationales):
    """A student who follows the rationale, then computes something else from the same
    numbers with right arithmetic, and answers that: the first error is that step, and
    the target is the reference from there (before, the answer line was blamed and the
    target kept the step)."""
    checked = exact = 0
    for solved in test_rationales:
        steps = list(solved.steps)
        if (len(steps) < 2 or first_wrong_step(solved.question, steps) is not None
                or not target_is_coherent(steps, solved.answer)):
            continue
        i = len(solved.id) % (len(steps) - 1)  # any step but the last
        left = leave_the_way(steps[i])
        if left is None or left[1] < 0 or first_off_track_step(
                [left[0]], on_track_numbers(solved.question, solved)) is None:
            continue  # a number the question or the reference has after all
        steps = steps[:i] + [left[0]]
        answer = normalize_answer(str(left[1]), "number")
        assert first_wrong_step(solved.question, steps) is None, (solved.id, steps[i])
        assert not target_is_coherent(steps, solved.answer)  # what the loop used to make
        reply = revise(gsm8k_teacher, solved.question, steps, answer)
        assert reply.first_error == i + 1, (solved.id, steps[i])
        assert list(solved.steps[len(solved.steps) - len(reply.steps):]) == reply.steps
        assert target_is_coherent(target(steps, reply), reply.answer)
        exact += reply.steps == list(solved.steps[i:])
        checked += 1
    print(f"\nrationales with a step that leaves the way: {checked}, first error found in "
          f"all; continuation from that step in {exact}")
    assert checked >= 500 and exact >= 0.95 * checked


def test_huge_decimals_and_numbers_are_read_not_raised(gsm8k_teacher):
    # GSM8K test line 151 (Steve bikes 3 miles at 440 feet per minute); a student divides
    # 3 by 440 and writes the decimal out to hundreds of digits
    solved = find(gsm8k_teacher, "Steve and Tim decide to see who can get home")
    decimal = "0.0068" + "18" * 300  # 3/440, right as far as it is written
    steps = [f"Steve needs 3/440 = <<3/440={decimal}>>{decimal} minutes per foot.",
             f"So Steve is {decimal} * 440 = {'1' * 400} minutes slower."]
    assert first_wrong_step(solved.question, steps[:1]) is None
    reply = revise(gsm8k_teacher, solved.question, steps, "1")
    assert reply.ok and reply.first_error == 1 and reply.steps == list(solved.steps)
    wrong = "0.0068" + "17" * 300
    found = first_wrong_step(solved.question, [f"3/440 = <<3/440={wrong}>>{wrong}"])
    assert found and found[1].startswith("3/440 is not")
    for step in [f"3 * 440 = <<3*440={'9' * 400}>>{'9' * 400}",  # overflows a float
                 f"<<{'9' * 5000}*2=3>>",  # more digits than Python reads as an int
                 f"{'1' * 400} * {'1' * 400} = 3", "1 + " * 2000 + "1 = 2001",
                 "(" * 500 + "3 + 1 = 4" + ")" * 500]:
        reply = revise(gsm8k_teacher, solved.question, [step], "4")
        assert reply.ok and target_is_coherent(target([step], reply), reply.answer)


def mangle(step: str, rng: random.Random) -> str:
    """One of the odd things a small model writes, somewhere in a step."""
    numbers = list(re.finditer(r"\d+(?:\.\d+)?", step)) or [re.match("", step)]
    n = rng.choice(numbers)
    i = rng.randrange(len(step) + 1)
    value = float(n.group() or 1)
    odd = [step[:n.start()] + f"{value / rng.choice([3, 7, 440]):.{rng.randint(20, 400)}f}"
           + step[n.end():],  # a long decimal
           step[:n.start()] + n.group() * rng.randint(20, 600) + step[n.end():],  # huge
           step[:n.end()] + rng.choice(["kg", " hours", "$", "%", " 000", ",000", "/", ")"])
           + step[n.end():],  # a unit or a stray sign
           step[:i] + step[i + 1:],  # a character lost
           step[:i] + rng.choice(["(", ")", "<<", ">>", "=", "==", "**", "/0", "0/0", "1e999",
                                  "x", "^", "-", " and a half", " 350 000"]) + step[i:],
           step[:n.start()] + f"{value + rng.randint(-9, 9):g}" + step[n.end():]]
    return rng.choice(odd)


def check_mangled(teacher, rationales, seed):
    """Revise each rationale with one to three steps mangled, cut short, with a right,
    wrong or no answer: no exception, and every target leads to its answer."""
    rng = random.Random(seed)
    for solved in rationales:
        steps = list(solved.steps)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(steps))
            steps[i] = mangle(steps[i], rng)
        steps = steps[:rng.randint(0, len(steps))] if rng.random() < 0.3 else steps
        answer = rng.choice([solved.answer, str(rng.randint(0, 100)), None])
        reply = revise(teacher, solved.question, steps, answer)
        assert reply.ok or reply.error == INCOHERENT, (solved.id, steps)
        if reply.ok:
            assert target_is_coherent(target(steps, reply), reply.answer), (solved.id, steps)


def test_mangled_rationales_never_raise(gsm8k_teacher):
    train = [s for s in gsm8k_teacher.by_question.values() if s.id.startswith("gsm8k-train")]
    check_mangled(gsm8k_teacher, train[::10], seed=0)


@pytest.mark.slow
def test_every_mangled_train_rationale(gsm8k_teacher):
    train = [s for s in gsm8k_teacher.by_question.values() if s.id.startswith("gsm8k-train")]
    assert len(train) > 7400
    check_mangled(gsm8k_teacher, train, seed=1)


def test_targets_lead_to_their_answers():
    natalia = ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
               "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."]
    assert target_is_coherent(natalia, "72") and last_computed_number(natalia) == 72
    assert not target_is_coherent(natalia, "24") and not target_is_coherent(natalia, "73")
    assert not target_is_coherent(["72 - 48 = 24"], "72")  # an operand is not a result
    # the final step may state the answer after the last equation (GSM8K does)
    assert target_is_coherent(natalia + ["So she sold seventy-two clips."], "72")
    assert target_is_coherent(["The rabbit runs 15 / 60 = <<15/60=.25>>.25 miles a minute",
                               "So (Number of Minutes) = 4"], "4")
    assert not target_is_coherent(natalia[:1] + ["She has 4 friends."], "72")
    # rounded, or in hundredths (cents, percent)
    assert target_is_coherent(["10 / 3 = 3.33"], "3.333333")
    assert target_is_coherent(["Each can costs $2.00/8 = $<<2/8=0.25>>0.25"], "25")
    # nothing computed, or an answer that is not a number: nothing to contradict
    assert target_is_coherent(["She sold many clips."], "72")
    assert target_is_coherent(natalia, "B") and target_is_coherent(natalia, None)


def test_dataset_rationales_lead_to_their_answers(shared_data, gsm8k_teacher):
    """GSM8K's and SVAMP's rationales as they are (what annotate returns): all but a few
    whose steps compute another number than the answer (data errors), which the
    reference teacher does not teach."""
    contradict = {}
    for kind in ("gsm8k", "svamp"):
        task = TaskConfig(kind=kind, path=str(shared_data / kind))
        solutions = reference_solutions(task)
        contradict[kind] = [s.id for s in solutions
                            if not target_is_coherent(list(s.steps), s.answer)]
        print(f"\n{kind}: {len(solutions) - len(contradict[kind])} of {len(solutions)} "
              f"rationales lead to their answers; not: {contradict[kind]}")
    assert len(contradict["gsm8k"]) <= 15 and not contradict["svamp"]
    # e.g. "Therefore, over 100 acts, 70 + 40 = 100 people have reappeared" (answer 110)
    assert "gsm8k-train-06158" in contradict["gsm8k"]
    unusable = [s for s in gsm8k_teacher.by_question.values()
                if s.id in contradict["gsm8k"]]
    assert unusable and all(annotate(gsm8k_teacher, s.question).error == INCOHERENT
                            for s in unusable)


def test_a_run_trains_only_on_targets_that_lead_to_their_answers(tmp_path, shared_data):
    """A short GSM8K run with the reference teacher and the tiny student (whose
    explanations are noise at first: a stress test): no stored target has steps whose
    last computed number contradicts its answer."""
    config = load_config(None, [*TINY, "task.kind=gsm8k", f"task.path={shared_data / 'gsm8k'}",
                                "teacher.kind=reference", "teacher.max_output_tokens=1024",
                                "task.pool_size=40", "task.test_size=4", "seed_size=8",
                                "round_size=6", "candidates=8", "max_rounds=1",
                                "student.seed_train_steps=4", "student.train_steps=2"])
    records, _ = run(config, tmp_path)
    store = RunStore(tmp_path / "run.sqlite")
    targets = store.targets()
    store.close()
    assert [r.round for r in records] == [0, 1] and len(targets) == records[-1].n_labeled
    assert {t.round for t in targets} == {0, 1}
    assert all(target_is_coherent(t.steps, t.answer) for t in targets), \
        [(t.example_id, t.steps, t.answer) for t in targets
         if not target_is_coherent(t.steps, t.answer)]


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


# what a barely trained tiny student wrote on SVAMP, and the reference teacher had
# taken for right steps (its arithmetic check reads equations only)
GARBLED = ["6 / 188swer", "7 =wer is", "The ans 57C  bott) 2.den7.", "1 lceX\ufffd 8 c8",
           "The ans is 1 2 36- is\ufffd5s 9 /swer is 47.", "x\u0005y = 3"]


def test_a_step_no_reader_could_follow_is_unreadable():
    known = vocabulary(["Tom has 5 apples and eats 3. How many apples are left?",
                        "He is left with 5 - 3 = 2 apples.", "The answer is 2."])
    for step in GARBLED:
        assert first_unreadable_step(["Tom has 5 apples.", step], known) == 2, step
    # numbers, names, units and a rare word among known ones are readable
    assert first_unreadable_step(["5 - 3 = 2", "Tom eats 3 apples, 2kg.", "Tom has 2.",
                                  "He is left with 2 apples (unripe)."], known) is None


@pytest.mark.parametrize("kind", ["svamp", "strategyqa"])
def test_garbled_steps_with_the_right_answer_are_not_confirmed(shared_data, kind):
    """For number answers (checked step by step) and yes/no (checked by the answer) alike:
    the first garbled step is the first error, and the target is the reference from
    there, not the student's garble."""
    teacher = make_teacher(TeacherConfig(kind="reference", max_output_tokens=1024),
                           TaskConfig(kind=kind, path=str(shared_data / kind)))
    solved = next(iter(teacher.by_question.values()))
    for steps in (["wer bott ans"], list(solved.steps[:1]) + GARBLED[:1]):
        reply = revise(teacher, solved.question, steps, solved.answer, None)
        assert reply.ok and reply.first_error == len(steps), steps
        kept = target(steps, reply)
        assert not any(g in kept for g in GARBLED) and "wer bott ans" not in kept
    assert revise(teacher, solved.question, list(solved.steps), solved.answer,
                  None).first_error is None  # its own rationale is still confirmed


def test_a_reply_limit_that_cuts_off_rationales_is_warned_of_with_one_that_fits(shared_data,
                                                                               caplog):
    """GSM8K's rationales as JSON replies run to hundreds of tokens: at the default 128
    over a third of them were cut off (paid, not usable) and nothing said so."""
    task = TaskConfig(kind="gsm8k", path=str(shared_data / "gsm8k"))
    make_teacher(TeacherConfig(kind="reference", max_output_tokens=128), task)
    warned = re.search(r"teacher.max_output_tokens=128 is shorter than (\d+) of the "
                       r"dataset's (\d+) reference rationales .*; teacher.max_output_tokens="
                       r"(\d+) fits them all", caplog.text)
    assert warned and 0.2 < int(warned[1]) / int(warned[2]) < 0.6, caplog.text
    fits = int(warned[3])
    caplog.clear()
    teacher = make_teacher(TeacherConfig(kind="reference", max_output_tokens=fits), task)
    assert "is shorter than" not in caplog.text
    assert all(annotate(teacher, s.question).ok for s in list(teacher.by_question.values())[:50]
               if target_is_coherent(list(s.steps), s.answer))
    make_teacher(TeacherConfig(kind="reference", max_output_tokens=fits - 1), task)
    assert f"teacher.max_output_tokens={fits - 1} is shorter than " in caplog.text


def test_a_file_without_rationales_is_said_to_give_bare_answers(tmp_path, caplog):
    """A JSON-lines file with answers and no `task.rationale_field`: every reference
    target is the bare answer, with no step (helper P, stop 59: accepted in silence)."""
    path = tmp_path / "q.jsonl"
    path.write_text("".join(f'{{"question": "What is {a} + 1?", "answer": "{a + 1}"}}\n'
                            for a in range(20)))
    task = TaskConfig(kind="jsonl", path=str(path), answer_type="number")
    make_teacher(TeacherConfig(kind="reference"), task)
    assert "the reference teacher has no worked solution to replay (set " \
           "task.rationale_field to the field that holds them)" in caplog.text
    caplog.clear()
    make_teacher(TeacherConfig(kind="reference"), TaskConfig(kind="jsonl", path=str(path),
                                                             answer_type="number",
                                                             rationale_field="answer"))
    assert "no worked solution" not in caplog.text
