"""What every teacher does, and the prompts it is given.

A teacher has two operations (ELAD.md, step 4): `annotate` writes an explanation from
scratch; `revise` checks a student's numbered steps, names the first wrong one and
continues correctly from there. Both are coroutines, so an LLM teacher can have many
requests in flight; each gets an `Allowance` of the budget (teacher/cache.py), which a
teacher that retries must ask for each retry's worst-case cost. Prompts are versioned
text files in `prompts/`; the version line is part of every cache key, so editing a
prompt never reuses old replies.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from elad.answers import ANSWER_CUE
from elad.budget import count_tokens
from elad.types import TeacherReply

if TYPE_CHECKING:
    from elad.teacher.cache import Allowance


class TeacherUnavailable(RuntimeError):
    """The teacher cannot be used at all (unreachable, wrong key, unknown model). The run
    stops; every reply received so far is in the store and a rerun resumes."""


class Teacher(Protocol):
    name: str
    max_output_tokens: int

    def identity(self) -> dict:
        """Everything besides the prompt that determines a reply (part of the cache key)."""

    def worst_case_input_tokens(self, prompt: str) -> int:
        """An upper bound on the tokens the teacher is billed for reading `prompt`."""

    async def annotate(self, question: str, answer_type: str,
                       allowance: Allowance) -> TeacherReply: ...

    async def revise(self, question: str, steps: list[str], answer: str | None,
                     hint: int | None, answer_type: str,
                     allowance: Allowance) -> TeacherReply: ...

    async def aclose(self) -> None:
        """Release connections; called after each batch of requests."""


@cache
def template(op: str) -> tuple[str, str]:
    """(version, body) of a prompt template."""
    text = resources.files("elad.teacher").joinpath(f"prompts/{op}.txt").read_text()
    first, _, body = text.partition("\n")
    return first.removeprefix("version:").strip(), body


def numbered_steps(steps: list[str], answer: str | None) -> str:
    """The student's steps numbered from 1; the answer line is the last step."""
    lines = [*steps, f"{ANSWER_CUE} {answer if answer is not None else '(none)'}."]
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def render(op: str, question: str, steps: list[str] | None = None,
           answer: str | None = None, hint: int | None = None) -> str:
    """The full prompt text for one teacher request."""
    _, body = template(op)
    hint_text = (f"\nHint: the student seemed least sure at step {hint}."
                 if hint is not None else "")
    return (body.replace("{question}", question)
                .replace("{steps}", numbered_steps(steps or [], answer))
                .replace("{hint}", hint_text))


def counted_reply(op: str, prompt: str, reply: dict, max_output_tokens: int,
                  first_error: int | None, steps: list[str], answer: str) -> TeacherReply:
    """The reply of a teacher that runs no LLM (oracle, reference), its tokens counted
    as if an LLM had read `prompt` and written `reply` as JSON (`budget.count_tokens`);
    longer than `max_output_tokens`, it is cut off and so not usable."""
    output_tokens = count_tokens(json.dumps(reply))
    ok = output_tokens <= max_output_tokens
    return TeacherReply(op=op, first_error=first_error, steps=steps, answer=answer,
                        input_tokens=count_tokens(prompt),
                        output_tokens=min(output_tokens, max_output_tokens), ok=ok,
                        error="" if ok else "reply longer than max_output_tokens")
