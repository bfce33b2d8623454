"""What every teacher does.

A teacher does one thing, `complete` a `TeacherRequest`, whose op says what is asked
(docs/concepts.md, step 4): `annotate` writes an explanation from scratch; `revise` checks a
student's numbered steps, names the first wrong one and continues correctly from there.
The request's prompt is already rendered (teacher/request.py). `complete` is a
coroutine, so an LLM teacher can have many requests in flight; each gets an `Allowance`
of the budget (budget.py), which a teacher that retries must ask for each retry's
worst-case cost.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

from elad.budget import Allowance, count_tokens
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply


class TeacherUnavailable(RuntimeError):
    """The teacher cannot be used at all (unreachable, wrong key, unknown model). The run
    stops; every reply received so far is in the store and a rerun resumes."""


class StoppedInFlight(asyncio.CancelledError):
    """A request cancelled in flight (a second Ctrl-C) after an unusable reply: still a
    cancellation, so whoever awaits it stops, carrying that reply, paid for, failed with
    the cancelled attempt's worst case, for the run to record (TeacherGateway)."""

    def __init__(self, reply: TeacherReply):
        super().__init__()
        self.reply = reply


class Teacher(Protocol):
    name: str
    max_output_tokens: int

    def identity(self) -> dict:
        """Everything besides the prompt that determines a reply (part of the cache key)."""

    def worst_case_input_tokens(self, prompt: str) -> int:
        """An upper bound on the tokens the teacher is billed for reading `prompt`."""

    async def complete(self, request: TeacherRequest,
                       allowance: Allowance) -> TeacherReply:
        """The reply to `request` (annotate or revise, as its op says)."""

    async def aclose(self) -> None:
        """Release connections; called after each batch of requests."""


def counted_reply(request: TeacherRequest, reply: dict, max_output_tokens: int,
                  first_error: int | None, steps: list[str], answer: str) -> TeacherReply:
    """The reply of a teacher that runs no LLM (oracle, reference), its tokens counted
    as if an LLM had read the request's prompt and written `reply` as JSON
    (`budget.count_tokens`); longer than `max_output_tokens`, it is cut off and so not
    usable."""
    output_tokens = count_tokens(json.dumps(reply))
    ok = output_tokens <= max_output_tokens
    return TeacherReply(op=request.op, first_error=first_error, steps=steps, answer=answer,
                        input_tokens=count_tokens(request.prompt),
                        output_tokens=min(output_tokens, max_output_tokens), ok=ok,
                        error="" if ok else "reply longer than max_output_tokens")
