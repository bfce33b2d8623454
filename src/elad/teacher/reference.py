"""A teacher that replays a dataset's human rationale: strategies compared on real data
with no API.

`annotate` returns the item's rationale as the explanation (GSM8K steps with their
calculator marks, SVAMP's equation, AQuA's rationale, StrategyQA's plan and facts).
`revise` checks the student's steps against the reference. For number answers every
equation the student writes is checked (`arithmetic`): its result, and that it uses only
numbers from the question or earlier results. The first failing step is the first error,
and the reference steps continue from the matching point (`continue_from`). Right steps
with a wrong answer blame the answer line. For other answer types the steps cannot be
checked: a right answer is confirmed, a wrong one gets the whole reference (first error:
step 1).

Tokens are counted as for the oracle, on the rendered prompt and the JSON reply.
"""

from __future__ import annotations

from elad.budget import count_tokens
from elad.config import ConfigError, TaskConfig, TeacherConfig
from elad.tasks import dataset_answer_type, reference_solutions
from elad.tasks.files import Solved
from elad.teacher.arithmetic import (
    NotArithmetic,
    evaluate,
    first_wrong_step,
    numbers_in,
    same,
    scan,
)
from elad.teacher.protocol import counted_reply
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply


def step_results(step: str) -> list[float]:
    """The results of the equations a step writes (the readable ones)."""
    results = []
    for equation in scan(step)[0]:
        try:
            results.append(evaluate(equation.sides[-1]))
        except NotArithmetic:
            pass
    return results


def continue_from(reference: tuple[str, ...], right_steps: list[str]) -> list[str]:
    """The reference steps after the matching point: as far as the student wrote them
    word for word, or as far as the student's right steps have every result of each
    reference step in order (a step with no equation does not stop the walk)."""
    matched = 0
    for mine, theirs in zip(right_steps, reference):
        if mine.split() != theirs.split():
            break
        matched += 1
    have = set().union(*(numbers_in(step) for step in right_steps))
    for number, step in enumerate(reference, 1):
        results = step_results(step)
        if results and not all(any(same(r, h) for h in have) for r in results):
            break
        if results:
            matched = max(matched, number)
    return list(reference[matched:])


class ReferenceTeacher:
    name = "reference"

    def __init__(self, solutions: list[Solved], answer_type: str,
                 max_output_tokens: int = TeacherConfig.max_output_tokens):
        self.by_question = {}
        for solved in solutions:
            self.by_question.setdefault(" ".join(solved.question.split()), solved)
        self.check_steps = answer_type == "number"
        self.max_output_tokens = max_output_tokens

    @classmethod
    def from_task(cls, task: TaskConfig, max_output_tokens: int) -> ReferenceTeacher:
        if task is None or task.kind == "synthetic":
            raise ConfigError("teacher.kind=reference needs a dataset task (task.kind="
                              "gsm8k, svamp, aqua, strategyqa or jsonl)")
        return cls(reference_solutions(task), dataset_answer_type(task), max_output_tokens)

    def identity(self) -> dict:
        return {"teacher": self.name, "max_output_tokens": self.max_output_tokens}

    def worst_case_input_tokens(self, prompt: str) -> int:
        return count_tokens(prompt)

    async def aclose(self) -> None:
        pass

    def _solution(self, question: str) -> Solved | None:
        return self.by_question.get(" ".join(question.split()))

    async def annotate(self, request: TeacherRequest, allowance) -> TeacherReply:
        solved = self._solution(request.question)
        if solved is None:
            return _unknown(request)
        steps = list(solved.steps)
        return counted_reply(request, {"steps": steps, "answer": solved.answer},
                             self.max_output_tokens, None, steps, solved.answer)

    def first_error(self, question: str, steps: list[str], answer: str | None,
                    right_answer: str) -> int | None:
        """1-based number of the first wrong step (the answer line is step n + 1)."""
        if self.check_steps:
            wrong = first_wrong_step(question, steps)
            if wrong is not None:
                return wrong[0]
            return None if answer == right_answer else len(steps) + 1
        return None if answer == right_answer else 1

    async def revise(self, request: TeacherRequest, allowance) -> TeacherReply:
        solved = self._solution(request.question)
        if solved is None:
            return _unknown(request)
        steps = list(request.steps)
        error = self.first_error(request.question, steps, request.answer, solved.answer)
        if error is None:
            reply = {"first_error": None, "continuation": [], "answer": solved.answer}
            return counted_reply(request, reply, self.max_output_tokens, None, [],
                                 solved.answer)
        continuation = continue_from(solved.steps, steps[:error - 1])
        reply = {"first_error": error, "continuation": continuation, "answer": solved.answer}
        return counted_reply(request, reply, self.max_output_tokens, error, continuation,
                             solved.answer)


def _unknown(request: TeacherRequest) -> TeacherReply:
    return TeacherReply(op=request.op, first_error=None, steps=[], answer=None,
                        input_tokens=0, output_tokens=0, ok=False,
                        error="question not in the dataset")
