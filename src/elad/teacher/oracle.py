"""An exact teacher for the synthetic tasks: it knows every question's canonical steps.

`annotate` returns the canonical explanation. `revise` compares the student's numbered
steps with the canonical ones in order (whitespace-insensitive); the first step that
differs is the first error, a missing step counts as wrong, and the answer line is the
last step. Tokens are counted as if an LLM had read the rendered prompt and written the
JSON reply (see `budget.count_tokens`), so costs are comparable with a real teacher's.

With `noise` > 0 it becomes an imperfect teacher: that fraction of its replies (chosen
by a hash of the request, so reruns agree) has one step made wrong, the last word or
number of a random step of what it writes, so runs can show what teacher errors do.
"""

from __future__ import annotations

import hashlib
import random
import re

from elad.budget import count_tokens
from elad.config import TeacherConfig
from elad.tasks import synthetic
from elad.teacher.protocol import counted_reply
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply

_LAST_WORD = re.compile(r"(-?\d+|heads|tails|yes|no)(\W*)$")
_FLIP = {"heads": "tails", "tails": "heads", "yes": "no", "no": "yes"}


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


def corrupt(steps: list[str], rng: random.Random) -> list[str]:
    """`steps` with one step made wrong: its last number shifted, or heads/tails or
    yes/no flipped. Steps without such an ending are left as they are."""
    candidates = [i for i, step in enumerate(steps) if _LAST_WORD.search(step)]
    if not candidates:
        return steps
    i = rng.choice(candidates)
    match = _LAST_WORD.search(steps[i])
    word = match.group(1)
    wrong = _FLIP.get(word) or str(int(word) + rng.choice([-3, -2, -1, 1, 2, 3]))
    return [*steps[:i], steps[i][:match.start()] + wrong + match.group(2), *steps[i + 1:]]


class OracleTeacher:
    name = "oracle"

    def __init__(self, max_output_tokens: int = TeacherConfig.max_output_tokens,
                 noise: float = 0.0):
        self.max_output_tokens = max_output_tokens
        self.noise = noise

    def identity(self) -> dict:
        return {"teacher": self.name, "max_output_tokens": self.max_output_tokens,
                "noise": self.noise}

    def worst_case_input_tokens(self, prompt: str) -> int:
        return count_tokens(prompt)

    async def aclose(self) -> None:
        pass

    def _noisy(self, prompt: str, steps: list[str]) -> list[str]:
        if self.noise <= 0:
            return steps
        rng = random.Random(hashlib.sha256(prompt.encode()).digest())
        return corrupt(steps, rng) if rng.random() < self.noise else steps

    def _reply(self, request: TeacherRequest, reply: dict, first_error: int | None,
               steps: list[str], answer: str) -> TeacherReply:
        return counted_reply(request, reply, self.max_output_tokens, first_error, steps,
                             answer)

    async def complete(self, request: TeacherRequest, allowance) -> TeacherReply:
        if request.op == "annotate":
            return self._annotate(request)
        return self._revise(request)

    def _annotate(self, request: TeacherRequest) -> TeacherReply:
        steps, answer = synthetic.solve(request.question)
        steps = self._noisy(request.prompt, steps)
        return self._reply(request, {"steps": steps, "answer": answer}, None, steps, answer)

    def _revise(self, request: TeacherRequest) -> TeacherReply:
        canonical, right = synthetic.solve(request.question)
        error = first_wrong_step(list(request.steps), request.answer, canonical, right)
        if error is None:
            reply = {"first_error": None, "continuation": [], "answer": right}
            return self._reply(request, reply, None, [], right)
        continuation = self._noisy(request.prompt, canonical[error - 1:])
        reply = {"first_error": error, "continuation": continuation, "answer": right}
        return self._reply(request, reply, error, continuation, right)
