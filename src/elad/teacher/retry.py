"""The teacher's retry and re-ask rules, in one place for both transports (online:
teacher/openai.py; the Batch API: teacher/batch.py), because they decide what is billed.

A transport sends a request, says what came of the attempt (an Outcome), and `Tries.after`
says what to do next (a Decision):
- a usable reply: accept it;
- a reply that cannot be used: ask again with the reason, up to `max_invalid` times, then
  give up;
- a transient error (HTTP 429 or 5xx, a timeout, a lost connection, a broken body, a
  batch that ended before the request ran): retry after a backoff, or after the server's
  Retry-After when it asks for at most MAX_RETRY_AFTER_S, up to `max_retries` times, then
  give up;
- a refusal (any other 4xx): give up at once.
Every attempt's billed tokens are kept, invalid replies' too: an accepted or given-up
request is recorded with all of them. The object does no I/O, so sequences of outcomes
can be checked by hand (tests/test_retry.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from elad.types import NO_REPLY, NO_USABLE_REPLY, REFUSED_REQUEST, TeacherReply

log = logging.getLogger("elad")

MAX_RETRY_AFTER_S = 300.0  # a longer Retry-After is ignored: back off instead

REPLY, INVALID, TRANSIENT, REFUSED = "reply", "invalid", "transient", "refused"
ACCEPT, REASK, RETRY, GIVE_UP = "accept", "re-ask", "retry", "give up"


def is_transient(status: int) -> bool:
    """Whether an HTTP error status may pass if the request is sent again: 408 (request
    timeout), 409 (conflict), 429 (rate limited) or 5xx (the server's trouble), the
    statuses the openai client itself retries. Any other error status is a refusal, in
    both transports (online and the Batch API)."""
    return status in (408, 409, 429) or status >= 500


@dataclass(frozen=True)
class Outcome:
    """What came of one attempt."""

    kind: str  # REPLY, INVALID, TRANSIENT or REFUSED
    usage: tuple[int, int] | None = None  # (input, output) tokens billed; None: not billed
    reason: str = ""  # what went wrong (INVALID, TRANSIENT, REFUSED)
    retry_after: float | None = None  # TRANSIENT: seconds the server asked us to wait
    reached: bool = True  # False: the server was never reached (connection refused)
    worst_case: bool = False  # `usage` is the attempt's worst case: the server never said


@dataclass(frozen=True)
class Decision:
    """What to do after an attempt."""

    action: str  # ACCEPT, REASK, RETRY or GIVE_UP
    why: str = ""  # REASK: the reason to tell the model; RETRY: what went wrong;
    #                GIVE_UP: the failed reply's error
    wait_s: float = 0.0  # RETRY: seconds to wait first


def no_backoff(failures: int) -> float:
    return 0.0


@dataclass
class Tries:
    """One request's attempts so far, under the retry and re-ask rules."""

    max_retries: int
    max_invalid: int
    backoff: Callable[[int], float] = no_backoff  # seconds to wait after n failures
    billed: tuple[int, int] = (0, 0)  # (input, output) tokens, every attempt so far
    unreported: list[tuple[int, int]] = field(default_factory=list)  # worst cases charged
    invalid: int = 0  # replies that could not be used
    failures: int = 0  # transient errors
    reason: str = ""  # what went wrong last
    unusable: str = ""  # why the last unusable reply could not be used
    reached: bool = False  # whether any attempt reached the server

    def after(self, outcome: Outcome) -> Decision:
        """Take in one attempt's outcome; what to do next."""
        self.reached = self.reached or outcome.reached
        if outcome.usage is not None:
            self.billed = (self.billed[0] + outcome.usage[0],
                           self.billed[1] + outcome.usage[1])
            if outcome.worst_case:
                self.unreported.append(outcome.usage)
        if outcome.kind == REPLY:
            return Decision(ACCEPT)
        if outcome.kind == REFUSED:
            return Decision(GIVE_UP, f"{REFUSED_REQUEST} {outcome.reason}")
        self.reason = outcome.reason
        if outcome.kind == INVALID:
            self.invalid += 1
            self.unusable = outcome.reason
            if self.invalid > self.max_invalid:
                return Decision(GIVE_UP, f"{NO_USABLE_REPLY} {self.invalid} tries: "
                                         f"{outcome.reason}")
            return Decision(REASK, outcome.reason)
        if outcome.kind != TRANSIENT:
            raise ValueError(f"unknown outcome of an attempt: {outcome.kind!r}")
        self.failures += 1
        if self.failures > self.max_retries:
            return Decision(GIVE_UP, f"{NO_REPLY} {self.failures} tries: "
                                     f"{outcome.reason}")
        wait = outcome.retry_after
        if wait is None or wait > MAX_RETRY_AFTER_S:
            wait = self.backoff(self.failures)
        return Decision(RETRY, outcome.reason, wait)

    def accepted(self, reply: TeacherReply) -> TeacherReply:
        """The usable reply, charged every token of every attempt."""
        reply.input_tokens, reply.output_tokens = self.billed
        return self.with_worst_cases(reply)

    def failed(self, op: str, why: str) -> TeacherReply:
        """The request given up on, with why and every token it was billed."""
        return self.with_worst_cases(failed_reply(op, why, *self.billed))

    def stopped(self, op: str) -> TeacherReply:
        """The request the run stopped before its re-ask, kept as failed: its unusable
        replies were received and paid for; asked again from the start, they would be
        paid for again."""
        replies = "reply" if self.invalid == 1 else "replies"
        return self.failed(op, f"the run stopped before asking again after {self.invalid} "
                               f"unusable {replies} ({self.unusable})")

    def with_worst_cases(self, reply: TeacherReply) -> TeacherReply:
        reply.worst_case_attempts = len(self.unreported)
        reply.worst_case_tokens = (sum(u[0] for u in self.unreported),
                                   sum(u[1] for u in self.unreported))
        return reply


def failed_reply(op: str, why: str, input_tokens: int, output_tokens: int) -> TeacherReply:
    """A request given up on, with why and every token it was billed (logged at debug
    level: whoever asked says it once, with the question's id: loop.ask_teacher)."""
    log.debug("teacher %s: %s", op, why)
    return TeacherReply(op, None, [], None, input_tokens, output_tokens, ok=False,
                        error=why)


def reask(messages: list[dict], text: str, reason: str) -> list[dict]:
    """The messages that ask again after the unusable reply `text`, saying why."""
    return [*messages[:1], {"role": "assistant", "content": text},
            {"role": "user", "content": f"That reply cannot be used: {reason}. Reply again "
                                        "with JSON only, in the form asked for."}]
