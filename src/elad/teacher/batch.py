"""OpenAI's Batch API: the second way TeacherGateway sends the requests its cache does
not hold (`teacher.batch=true`), at `teacher.batch_price_factor` of the price (half, at
OpenAI), with replies within hours instead of seconds.

A round's requests go out as one JSONL file of chat completion requests (custom_id: the
request's cache key), uploaded (files endpoint) and run as one batch (batches endpoint).
The run store records the batch and every request in it (and its key) before the batch
is created, and its id right after, so a run killed while the batch runs collects it when
rerun instead of paying for it twice, and asks what the batch asked even where a newer
elad would word it differently; a batch whose id was never recorded (a kill, or a
lost reply to the create call) is found again by its input file. The batch is polled
with backoff (0.5 s, 1 s, 2 s ... then every `batch_poll_s`); with `batch_wait=false`
the run stops (BatchPending) and a rerun collects.

What comes back for each request:
- a reply: billed its usage and read as an online reply. One that cannot be used is
  asked again, with the reason, in the next batch (at the batch price, like the rest),
  up to `max_invalid` times, then recorded as failed. A body that is not a chat
  completion is billed its worst case and sent again, as a transient error.
- an error line (429, 5xx), or no line because the batch expired or was cancelled
  first: not billed; sent again in the next batch, up to `max_retries` times.
- any other error status (the request refused): recorded as failed.
teacher/retry.py decides, as it does online. The outcomes of a collected batch are
stored in one transaction, and each request's state (what it was billed, the messages
of a re-ask) is rebuilt from them on a rerun.
A batch that fails as a whole, or a server without the Batch API, stops the run
(TeacherUnavailable) with the server's reason; every reply so far is kept.

The budget: before a batch is created, each request in it reserves its worst case (what
it was billed so far plus this attempt's prompt bytes and output limit); a first attempt
that does not fit is skipped, a later one recorded as failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai
from openai.types.chat import ChatCompletion

from elad.budget import Budget, Prices
from elad.progress import HEARTBEAT_S
from elad.store import RunStore, round_name
from elad.teacher.openai import (
    BrokenBody,
    OpenAITeacher,
    read_reply,
    worst_input_tokens,
)
from elad.teacher.protocol import TeacherUnavailable
from elad.teacher.reply import InvalidReply
from elad.teacher.request import TeacherRequest
from elad.teacher.retry import (
    ACCEPT,
    GIVE_UP,
    INVALID,
    REASK,
    REFUSED,
    REPLY,
    TRANSIENT,
    Outcome,
    Tries,
    is_transient,
    reask,
)
from elad.types import TeacherReply, asked_again

log = logging.getLogger("elad")

ENDPOINT = "/v1/chat/completions"
ENDED = ("completed", "expired", "cancelled", "failed")
LIST_MARGIN_S = 3600  # batches listed newest first: one made this long before ours is not


class BatchPending(Exception):
    """A batch is still running and `teacher.batch_wait` is false: the run stops; the
    same command, run again, collects it."""


@dataclass
class Attempts:
    """One request on its way through batches."""

    request: TeacherRequest
    example_id: str
    messages: list[dict]  # what its next (or in-flight) attempt sends
    tries: Tries  # its attempts so far: counts and billed tokens
    held: float = 0.0  # dollars reserved from the budget
    reply: TeacherReply | None = None  # once done: usable, or failed with why
    skipped: bool = False  # not sent in a batch: its first attempt did not fit in the
    # budget, or it was handed to online requests (`hand_over`)


def outcome(line: dict | None) -> dict:
    """What a line of a batch's output or error file says about its request, in the
    form the run store keeps: {"status": 200, "text", "finish", "usage"} or
    {"status": code or None, "error"}; None (no line): the batch ended before it."""
    if line is None:
        return {"status": None, "error": "not run before the batch ended"}
    response = line.get("response") or {}
    status, body = response.get("status_code"), response.get("body") or {}
    if status == 200:
        try:
            text, usage, finish = OpenAITeacher.reply_text(ChatCompletion.model_validate(body))
        except (BrokenBody, ValueError):  # pydantic's ValidationError is a ValueError
            return {"status": 200, "text": None, "usage": None}
        return {"status": 200, "text": text, "finish": finish, "usage": usage}
    error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) \
        or {}
    why = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    return {"status": status, "error": f"HTTP {status}: {why}" if status else why}


class BatchSender:
    def __init__(self, teacher: OpenAITeacher, store: RunStore, prices: Prices):
        self.teacher = teacher
        self.config = teacher.config
        self.store = store
        self.prices = prices

    async def send(self, items: list[tuple[TeacherRequest, str]], round: int,
                   budget: Budget,
                   done: Callable[[int, TeacherReply | None, float], None],
                   collect_only: bool = False) -> None:
        """Send every (request, example id) through batches until each is done:
        `done(index, reply, cost)` as each one is (reply None: skipped, it did not fit
        in the budget). `collect_only` (`teacher.batch` turned off): collect the open
        batch, if any, then send in batches only the re-asks of replies it billed
        (`hand_over`)."""
        states = [self.restore(request, qid) for request, qid in items]
        opened = self.store.open_batch()
        in_flight = set(opened["keys"]) if opened else set()
        for i, state in enumerate(states):  # what was sent was reserved then: hold it
            if state.reply is not None:  # collected before a kill, not recorded yet
                self.hold(state, budget, sent=True)
                self.settle(i, state, budget, done)
            elif state.request.key in in_flight:
                self.hold(state, budget, sent=True)
        while True:
            if opened is None and collect_only:  # the open batch is collected
                self.hand_over(states, budget)
                collect_only = False
            if opened is None:
                ready = self.ready(states, budget, done)
                if not ready:
                    return
                opened = await self.submit(ready, round)
            batch = await self.wait(opened)
            outcomes = await self.collect(batch, opened["keys"])
            self.store.collect_batch(opened["input_file_id"], outcomes)
            if batch.status == "failed":
                raise TeacherUnavailable(
                    f"the teacher at {self.config.base_url} failed batch {batch.id}: "
                    f"{self.batch_errors(batch)}")
            for i, state in enumerate(states):
                if state.reply is None and state.request.key in outcomes:
                    self.advance(state, outcomes[state.request.key])
                    if state.reply is not None:
                        self.settle(i, state, budget, done)
            opened = None

    # --- each request's state -----------------------------------------------------------

    def restore(self, request: TeacherRequest, example_id: str) -> Attempts:
        """A request's state, rebuilt from the outcomes of its collected attempts. A
        failure given up on and recorded that the next run asks again (`asked_again`:
        no reply) ends its attempts: those after it start afresh, as online (before,
        each rerun gave it up again at once). Its billed tokens are in the recorded
        failure, which the reply's record adds them to."""
        def fresh() -> Attempts:
            return Attempts(request, example_id,
                            [{"role": "user", "content": request.prompt}],
                            Tries(self.config.max_retries, self.config.max_invalid))

        recorded = self.store.failed_call_tokens(request.key)
        state, given_up = fresh(), (0, 0)
        for stored in self.store.batch_outcomes(request.key):
            self.advance(state, stored)
            if recorded and state.reply is not None and asked_again(state.reply):
                given_up = (given_up[0] + state.tries.billed[0],
                            given_up[1] + state.tries.billed[1])
                if given_up[0] <= recorded[0] and given_up[1] <= recorded[1]:
                    state = fresh()  # recorded (a kill may come before the record)
        return state

    def advance(self, state: Attempts, result: dict) -> None:
        """Take in one attempt's outcome (`outcome`): a reply, a re-ask, a retry (in the
        next batch), or a failure, as retry.Tries decides."""
        status, reply = result["status"], None
        if status == 200:  # billed: its usage, or its worst case when unknown
            usage = result["usage"] or (worst_input_tokens(state.messages),
                                        self.config.max_output_tokens)
            unreported = not result["usage"]
            if result["text"] is None:
                attempt = Outcome(TRANSIENT, usage, "the reply is not a chat completion",
                                  worst_case=unreported)
            else:
                try:
                    reply = read_reply(state.request, result["text"], result["finish"],
                                       self.config.max_output_tokens)
                    attempt = Outcome(REPLY, usage, worst_case=unreported)
                except InvalidReply as error:
                    attempt = Outcome(INVALID, usage, str(error), worst_case=unreported)
        else:  # an error line, or none (the batch ended first): not billed
            kind = TRANSIENT if status is None or is_transient(status) else REFUSED
            attempt = Outcome(kind, reason=self.teacher.scrub(result["error"]))
        decision = state.tries.after(attempt)
        if decision.action == ACCEPT:
            state.reply = state.tries.accepted(reply)
        elif decision.action == REASK:
            state.messages = reask(state.messages, result["text"], decision.why)
        elif decision.action == GIVE_UP:
            state.reply = state.tries.failed(state.request.op, decision.why)

    def hold(self, state: Attempts, budget: Budget, sent: bool = False) -> bool:
        """Reserve what the request was billed plus its next attempt's worst case;
        False if that does not fit (unless `sent`: it is in flight already)."""
        worst = (worst_input_tokens(state.messages), self.config.max_output_tokens)
        extra = self.prices.cost(*state.tries.billed) + \
            (0.0 if state.reply else self.prices.cost(*worst)) - state.held
        if extra <= 0:
            return True
        if not sent and not budget.fits(extra):
            return False
        budget.reserve(extra)
        state.held += extra
        return True

    def settle(self, i: int, state: Attempts, budget: Budget,
               done: Callable[[int, TeacherReply | None, float], None]) -> None:
        cost = self.prices.cost(*state.tries.billed)
        budget.settle(state.held, cost)
        state.held = 0.0
        done(i, state.reply, cost)

    def hand_over(self, states: list[Attempts], budget: Budget) -> None:
        """What a collected batch left undone when `teacher.batch` was turned off: those
        billed nothing are handed to online requests (released, marked skipped here); one
        billed for an unusable reply is asked again in batches still, where its re-ask
        carries what the batch billed (before, it was failed: never asked again, and a
        round of such replies alone could never go on)."""
        for state in states:
            if state.reply is None and state.tries.billed == (0, 0):
                budget.settle(state.held, 0.0)
                state.held, state.skipped = 0.0, True
        if again := sum(s.reply is None and not s.skipped for s in states):
            log.info("teacher: %d unusable replies of the collected batch are asked again "
                     "in a batch, though teacher.batch is off (their re-asks carry what "
                     "the batch billed); the rest go online after them", again)

    def ready(self, states: list[Attempts], budget: Budget,
              done: Callable[[int, TeacherReply | None, float], None]) -> list[Attempts]:
        """The requests to send in the next batch, each holding its worst case; those
        that no longer fit are skipped (never sent) or failed (sent before)."""
        ready = []
        for i, state in enumerate(states):
            if state.reply is not None or state.skipped:
                continue
            if self.hold(state, budget):
                ready.append(state)
            elif state.tries.billed == (0, 0) and not state.tries.failures:
                state.skipped = True
                done(i, None, 0.0)
            else:
                state.reply = state.tries.failed(state.request.op,
                                                 "budget spent before the next attempt")
                self.settle(i, state, budget, done)
        return ready

    # --- the batch ----------------------------------------------------------------------

    async def submit(self, states: list[Attempts], round: int) -> dict:
        """Upload the requests as a JSONL file, record it with the requests' keys,
        create its batch and record the batch id; returns the store's open batch."""
        lines = [json.dumps({"custom_id": s.request.key, "method": "POST", "url": ENDPOINT,
                             "body": {"messages": s.messages,
                                      **self.teacher.request_options(s.request.op)}})
                 for s in states]
        client = self.teacher.client()
        upload = await self.api(lambda: client.files.create(
            file=(f"elad-round-{round}.jsonl", "\n".join(lines).encode() + b"\n"),
            purpose="batch"), "upload the batch's requests")
        self.store.add_batch(upload.id, round, [(s.request.key, s.example_id,
                                                 s.request.as_dict(), s.held)
                                                for s in states])
        await self.create(self.store.open_batch(), look=False)
        return self.store.open_batch()

    async def create(self, opened: dict, look: bool) -> str:
        """Create the open batch and record its id. It may exist already (`look`: a
        rerun after a kill before its id was recorded; also any retry of a create call
        that failed, which may have created it): then it is found by its input file."""
        client = self.teacher.client()

        async def find_or_create() -> str:
            nonlocal look
            if look and (found := await self.find(opened)):
                return found
            look = True
            batch = await client.batches.create(
                input_file_id=opened["input_file_id"], endpoint=ENDPOINT,
                completion_window="24h", metadata={"elad": round_name(opened["round"])})
            return batch.id

        batch_id = await self.api(find_or_create, "create the batch")
        self.store.set_batch_id(opened["input_file_id"], batch_id)
        n = len(opened["keys"])
        log.info("%s: batch %s sent, %d request%s", round_name(opened["round"]), batch_id,
                 n, "" if n == 1 else "s")
        return batch_id

    async def find(self, opened: dict) -> str | None:
        """The id of a batch made from the open batch's input file, if there is one."""
        async for batch in self.teacher.client().batches.list(limit=100):
            if batch.input_file_id == opened["input_file_id"]:
                return batch.id
            if batch.created_at < opened["created"] - LIST_MARGIN_S:
                return None
        return None

    async def wait(self, opened: dict):
        """Poll the open batch until it ends (or, without `batch_wait`, stop the run)."""
        batch_id = opened["batch_id"] or await self.create(opened, look=True)
        client = self.teacher.client()
        wait_s, said, said_at = 0.5, None, time.monotonic()
        while True:
            batch = await self.api(lambda: client.batches.retrieve(batch_id),
                                   "poll the batch")
            counts = batch.request_counts
            where = (f"batch {batch_id} {batch.status}, {counts.completed if counts else 0}"
                     f" of {len(opened['keys'])} requests done")
            if batch.status in ENDED:
                log.info("%s: %s", round_name(opened["round"]), where)
                return batch
            if not self.config.batch_wait:
                raise BatchPending(f"{round_name(opened['round'])}: {where}; run the same "
                                   "command again to collect it")
            if where != said or time.monotonic() - said_at >= HEARTBEAT_S:
                log.info("%s: %s", round_name(opened["round"]), where)
                said, said_at = where, time.monotonic()
            await asyncio.sleep(min(wait_s, self.config.batch_poll_s))
            wait_s *= 2

    async def collect(self, batch, keys: list[str]) -> dict[str, dict]:
        """Each request's outcome (`outcome`), from the batch's output and error files."""
        client = self.teacher.client()
        lines = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self.api(lambda file_id=file_id: client.files.content(file_id),
                                     "read the batch's results")
            for text in content.text.splitlines():
                try:
                    line = json.loads(text)
                    lines[line["custom_id"]] = line
                except (ValueError, KeyError, TypeError):
                    if text.strip():
                        log.warning("batch %s: a result line that cannot be read: %.200s",
                                    batch.id, text)
        return {key: outcome(lines.get(key)) for key in keys}

    def batch_errors(self, batch) -> str:
        errors = batch.errors.data if batch.errors and batch.errors.data else []
        return self.teacher.scrub("; ".join(
            f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
            for e in errors[:3]) or "no reason given")

    async def api(self, call: Callable[[], Awaitable], what: str):
        """`call()`, retried with backoff after 429s, 5xx and lost connections,
        `max_retries` times; anything else, or running out, stops the run."""
        tries = Tries(self.config.max_retries, 0, self.teacher.backoff_s)
        while True:
            try:
                return await call()
            except (openai.APIStatusError, openai.APIConnectionError) as error:
                passing = isinstance(error, openai.APIConnectionError) or \
                    is_transient(error.status_code)
                decision = tries.after(Outcome(TRANSIENT if passing else REFUSED))
                if decision.action == GIVE_UP:
                    raise TeacherUnavailable(
                        f"the teacher at {self.config.base_url} cannot {what} (Batch API): "
                        f"{self.teacher.scrub(str(error))}") from None
                await asyncio.sleep(decision.wait_s)
