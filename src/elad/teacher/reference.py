"""A teacher that replays a dataset's human rationale: strategies compared on real data
with no API.

`annotate` returns the item's rationale as the explanation (GSM8K steps with their
calculator marks, SVAMP's equation, AQuA's rationale, StrategyQA's plan and facts).
`revise` checks the student's steps against the reference. For number answers every
equation the student writes is checked (`arithmetic`): its result, and that it uses only
numbers from the question or earlier results. When the answer is wrong, or the steps do
not lead to it, a step that computes a number neither the question nor the reference has
is wrong too: the student has left the way to the answer there. The reference steps
continue from the matching point (`continue_from`), or from earlier in the reference where
the target's steps would otherwise not lead to the reference answer
(`arithmetic.target_is_coherent`). A reference whose own steps contradict its answer (13
GSM8K items) is not taught: the reply is not usable. For other answer types the steps
cannot be checked: a right answer is confirmed, a wrong one gets the whole reference
(first error: step 1). For every answer type a step no reader could follow is wrong
(`first_unreadable_step`), as a teacher would say: garbled text, which a student that
has barely begun to learn writes, and which neither check above reads.

Tokens are counted as for the oracle, on the rendered prompt and the JSON reply.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable

from elad.budget import count_tokens
from elad.config import ConfigError, TaskConfig, TeacherConfig
from elad.tasks import dataset_answer_type, reference_solutions
from elad.tasks.files import Solved
from elad.teacher.arithmetic import (
    first_wrong_step,
    numbers_in,
    same,
    same_answer,
    scan,
    step_results,
    target_is_coherent,
)
from elad.teacher.protocol import counted_reply
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply

log = logging.getLogger("elad")


def continue_from(reference: tuple[str, ...], right_steps: list[str],
                  question: str = "") -> list[str]:
    """The reference steps after the matching point: as far as the student wrote them
    word for word, or as far as the student's right steps have every result of each
    reference step in order (a step with no equation does not stop the walk). A result
    counts when the student computed it, or stated it outside an equation and it is not
    a number of the question: an operand or a given number ("$12 - $4 = $8" with $4
    given) is not a later reference result that happens to be the same number."""
    matched = 0
    for mine, theirs in zip(right_steps, reference):
        if mine.split() != theirs.split():
            break
        matched += 1
    given = numbers_in(question)
    have = set()
    for step in right_steps:
        stated = numbers_in(scan(step)[1])
        have |= {n for n in stated if not any(same(n, g) for g in given)}
        have |= set(step_results(step))
    for number, step in enumerate(reference, 1):
        results = step_results(step)
        if results and not all(any(same(r, h) for h in have) for r in results):
            break
        if results:
            matched = max(matched, number)
    return list(reference[matched:])


def on_track_numbers(question: str, reference: Solved) -> set[float]:
    """The numbers a solution may compute on its way to the answer: those the question
    states and those the reference states or computes."""
    found = numbers_in(question) | numbers_in(reference.answer)
    for step in reference.steps:
        found |= numbers_in(step) | set(step_results(step))
    return found


def first_off_track_step(steps: list[str], on_track: set[float]) -> int | None:
    """1-based number of the first step that computes a number not on track (one
    written rounded, 0.33 for a third, or as a percentage, 60 for 0.6, is on track), or
    None."""
    for number, step in enumerate(steps, 1):
        for value in step_results(step):
            if not any(same_answer(n, value) for n in on_track):
                return number
    return None


_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits
# not held against a step: a name ("Seroquel") or a number with its unit or variable
# ("3kg", "0.78x"), which a writer may use though the dataset never did
_EXCUSED = re.compile(r"[A-Z][a-z]+|\d+[A-Za-z]")
UNREADABLE_SHARE = 1 / 3  # of a step's words outside the dataset's vocabulary


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """The words (lower case) of a dataset's questions and rationales."""
    return frozenset(word.lower() for text in texts for word in _WORD.findall(text))


def first_unreadable_step(steps: list[str], known: frozenset[str]) -> int | None:
    """1-based number of the first step a reader could not follow, or None: one with a
    control or replacement character, or with more than UNREADABLE_SHARE of its words
    not in `known`, the dataset's own words ("188swer", "den7", "wer"; plain numbers,
    names and numbers with a unit are not counted). A step of numbers and operators
    alone is left to the arithmetic check. Human rationales of the same dataset that
    this would call unreadable: BENCHMARKS.md, "Measurements behind design choices"."""
    for number, step in enumerate(steps, 1):
        if any(c == "\ufffd" or unicodedata.category(c).startswith("C") for c in step):
            return number
        words = [w.lower() for w in _WORD.findall(step)
                 if not w.isdigit() and not _EXCUSED.fullmatch(w)]
        if words and sum(w not in known for w in words) > UNREADABLE_SHARE * len(words):
            return number
    return None


def find_first_error(question: str, steps: list[str], answer: str | None,
                     reference: Solved) -> int | None:
    """1-based number of the first wrong step of a number answer's explanation (the
    answer line is step n + 1), or None when there is none.

    A step is wrong when its arithmetic is (`first_wrong_step`). When the answer is wrong
    or the steps do not lead to it, so is a step that leaves the way: it computes a
    number that neither the question nor the reference has. Right steps that all stay on
    the way with a wrong answer blame the answer line."""
    wrong = first_wrong_step(question, steps)
    astray = answer != reference.answer or not target_is_coherent(steps, answer)
    if wrong is None and not astray:
        return None
    error = wrong[0] if wrong else len(steps) + 1
    if astray:
        off_track = first_off_track_step(steps[:error - 1],
                                         on_track_numbers(question, reference))
        error = off_track or error
    return error


def continuation(question: str, right_steps: list[str], reference: Solved
                 ) -> list[str] | None:
    """The reference steps that follow the student's right steps (`continue_from`), or,
    when the target would then not lead to the reference answer (the student's last
    right step computed something else, or a coincidence matched too far), the shortest
    longer part of the reference that does; None if even the whole reference does not
    (a rationale that contradicts its own answer)."""
    steps = continue_from(reference.steps, right_steps, question)
    for start in range(len(reference.steps) - len(steps), -1, -1):
        tail = list(reference.steps[start:])
        if target_is_coherent(right_steps + tail, reference.answer):
            return tail
    return None


def cut_off_note(solutions: list[Solved], max_output_tokens: int) -> str | None:
    """What `max_output_tokens` cuts off of the dataset's rationales as replies (a cut
    reply is counted as paid and is not usable), and the limit that fits them all; None
    when it fits every one."""
    lengths = [count_tokens(json.dumps({"steps": list(s.steps), "answer": s.answer}))
               for s in solutions]
    over = sum(n > max_output_tokens for n in lengths)
    if not over:
        return None
    share = f"{over / len(lengths):.0%}" if over / len(lengths) >= 0.01 else "under 1%"
    return (f"teacher.max_output_tokens={max_output_tokens} is shorter than {over} of the "
            f"dataset's {len(lengths)} reference rationales ({share}): "
            "their replies will be cut off, counted as paid and not usable; "
            f"teacher.max_output_tokens={max(lengths)} fits them all")


class ReferenceTeacher:
    name = "reference"

    def __init__(self, solutions: list[Solved], answer_type: str,
                 max_output_tokens: int = TeacherConfig.max_output_tokens):
        self.by_question = {}
        for solved in solutions:
            self.by_question.setdefault(" ".join(solved.question.split()), solved)
        self.check_steps = answer_type == "number"
        self.max_output_tokens = max_output_tokens
        self.words = vocabulary(text for solved in solutions
                                for text in (solved.question, *solved.steps))

    @classmethod
    def from_task(cls, task: TaskConfig, max_output_tokens: int) -> ReferenceTeacher:
        if task is None or task.kind == "synthetic":
            raise ConfigError("teacher.kind=reference needs a dataset task (task.kind="
                              "gsm8k, svamp, aqua, strategyqa or jsonl)")
        solutions = reference_solutions(task)
        note = cut_off_note(solutions, max_output_tokens)
        if note:
            log.warning(note)
        if solutions and not any(s.steps for s in solutions):
            log.warning("the reference teacher has no worked solution to replay (%s): "
                        "every target is the bare answer, with no steps to learn from",
                        "set task.rationale_field to the field that holds them"
                        if task.kind == "jsonl" else "the dataset gives none")
        return cls(solutions, dataset_answer_type(task), max_output_tokens)

    def identity(self) -> dict:
        return {"teacher": self.name, "max_output_tokens": self.max_output_tokens}

    def worst_case_input_tokens(self, prompt: str) -> int:
        return count_tokens(prompt)

    async def aclose(self) -> None:
        pass

    def _solution(self, question: str) -> Solved | None:
        return self.by_question.get(" ".join(question.split()))

    async def complete(self, request: TeacherRequest, allowance) -> TeacherReply:
        if request.op == "annotate":
            return self._annotate(request)
        return self._revise(request)

    def _annotate(self, request: TeacherRequest) -> TeacherReply:
        solved = self._solution(request.question)
        if solved is None:
            return _unusable(request, "question not in the dataset")
        steps = list(solved.steps)
        if self.check_steps and not target_is_coherent(steps, solved.answer):
            return _unusable(request, INCOHERENT)
        return counted_reply(request, {"steps": steps, "answer": solved.answer},
                             self.max_output_tokens, None, steps, solved.answer)

    def first_error(self, question: str, steps: list[str], answer: str | None,
                    reference: Solved) -> int | None:
        """1-based number of the first wrong step (the answer line is step n + 1)."""
        if self.check_steps:
            error = find_first_error(question, steps, answer, reference)
        else:
            error = None if answer == reference.answer else 1
        unreadable = first_unreadable_step(steps, self.words)
        return min(e for e in (error, unreadable) if e is not None) \
            if error or unreadable else None

    def _revise(self, request: TeacherRequest) -> TeacherReply:
        solved = self._solution(request.question)
        if solved is None:
            return _unusable(request, "question not in the dataset")
        question, steps = request.question, list(request.steps)
        error = self.first_error(question, steps, request.answer, solved)
        if error is None:
            reply = {"first_error": None, "continuation": [], "answer": solved.answer}
            return counted_reply(request, reply, self.max_output_tokens, None, [],
                                 solved.answer)
        if self.check_steps:
            steps_on = continuation(question, steps[:error - 1], solved)
            if steps_on is None:
                return _unusable(request, INCOHERENT)
        else:
            steps_on = continue_from(solved.steps, steps[:error - 1])
        reply = {"first_error": error, "continuation": steps_on, "answer": solved.answer}
        return counted_reply(request, reply, self.max_output_tokens, error, steps_on,
                             solved.answer)


INCOHERENT = "the reference rationale's steps do not lead to its answer"


def _unusable(request: TeacherRequest, why: str) -> TeacherReply:
    return TeacherReply(op=request.op, first_error=None, steps=[], answer=None,
                        input_tokens=0, output_tokens=0, ok=False, error=why)
