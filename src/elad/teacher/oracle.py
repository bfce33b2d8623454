"""An exact teacher for the synthetic tasks: it knows every question's canonical steps.

`annotate` returns the canonical explanation. `revise` compares the student's numbered
steps with the canonical ones in order (whitespace-insensitive); the first step that
differs is the first error, a missing step counts as wrong, and the answer line is the
last step. Tokens are counted as if an LLM had read the rendered prompt and written the
JSON reply (see `budget.count_tokens`), so costs are comparable with a real teacher's.
"""

from __future__ import annotations

from elad.config import TeacherConfig
from elad.tasks import synthetic
from elad.teacher.protocol import counted_reply, render
from elad.types import TeacherReply


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def first_wrong_step(student: list[str], student_answer: str | None,
                     canonical: list[str], answer: str) -> int | None:
    """1-based number of the first wrong student step (the answer line is step n + 1)."""
    for i, (mine, right) in enumerate(zip(student, canonical), 1):
        if not _same(mine, right):
            return i
    if len(student) != len(canonical):
        return min(len(student), len(canonical)) + 1
    return None if student_answer == answer else len(student) + 1


class OracleTeacher:
    name = "oracle"

    def __init__(self, max_output_tokens: int = TeacherConfig.max_output_tokens):
        self.max_output_tokens = max_output_tokens

    def _reply(self, op: str, prompt: str, reply: dict, first_error: int | None,
               steps: list[str], answer: str) -> TeacherReply:
        return counted_reply(op, prompt, reply, self.max_output_tokens, first_error, steps,
                             answer)

    def annotate(self, question: str) -> TeacherReply:
        steps, answer = synthetic.solve(question)
        prompt = render("annotate", question)
        return self._reply("annotate", prompt, {"steps": steps, "answer": answer},
                           None, steps, answer)

    def revise(self, question: str, steps: list[str], answer: str | None,
               hint: int | None) -> TeacherReply:
        canonical, right = synthetic.solve(question)
        prompt = render("revise", question, steps, answer, hint)
        error = first_wrong_step(steps, answer, canonical, right)
        if error is None:
            return self._reply("revise", prompt, {"first_error": None}, None, [], right)
        continuation = canonical[error - 1:]
        reply = {"first_error": error, "continuation": continuation, "answer": right}
        return self._reply("revise", prompt, reply, error, continuation, right)
