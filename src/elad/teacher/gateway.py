"""The teacher gateway: every teacher request of a run goes through here (its worst case,
cache lookup, budget, concurrent or batched calls, record); `elad teacher check`'s one
probe, which has no run, does not.

A request (teacher/request.py) holds everything that determines the reply; its key
indexes the run store's cache: a reply already there is returned without calling or
paying again, and a request given twice is sent once.

New requests run concurrently (asyncio, at most `concurrency` in flight). Before each
attempt its worst-case cost is reserved from the budget, counting every request in
flight (budget.Allowance); an attempt that does not fit waits for those in flight to
settle and is skipped if it still does not fit. Each reply is written to the store the
moment it arrives, so a killed run loses at most the requests in flight (Ctrl-C waits for
those).

Write-ahead: what an online request holds of the budget is committed to the store
(`store.send_ahead`) before each attempt goes out, and its reply replaces it with the
billed figure; a request whose reply never came (a kill) stays counted at its worst case.

With `batch` (an OpenAI teacher, `teacher.batch=true`) new requests go out as one
Batch API batch instead (teacher/batch.py), each reply recorded as it is collected.
Without it, requests sent in an earlier batch (`teacher.batch` turned off) are first
collected from their batch, never sent again online: an unusable reply of it is asked
again in a batch, which carries what the first one billed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from elad.budget import Allowance, Budget, Prices, teacher_prices, worst_case
from elad.progress import meter
from elad.store import RunStore, round_name
from elad.teacher.protocol import StoppedInFlight, Teacher, TeacherUnavailable
from elad.teacher.request import TeacherRequest
from elad.tasks import answer_type
from elad.types import NO_USABLE_REPLY, REFUSED_REQUEST, Example, TeacherReply, no_reply

log = logging.getLogger("elad")
DRAIN_S = 60  # how long Ctrl-C waits for the teacher requests in flight
# a call's first new requests all given up as unusable (the teacher cannot reply as asked:
# a wrong task.labels, a model too weak), so the rest would be paid for nothing; or
# refused (a model that takes no such request), so the rest would be refused too; or, in a
# run that has had no reply yet, given no reply after every retry (a server that answers
# 503 to everything), so the rest would each wait through its retries for nothing (later,
# an outage stops a round only if none of it got a reply: loop.ask_teacher)
FIRST_UNUSABLE_STOP = 5


def annotate_request(teacher: Teacher, example: Example,
                     labels: Sequence[str]) -> TeacherRequest:
    """What `teacher` is asked to annotate `example` from scratch (told the `labels`
    its answer must be one of, for a label task: task.labels)."""
    return TeacherRequest.annotate(teacher.identity(), example.question,
                                   answer_type(example), labels)


def unasked(store: RunStore, pool: list[Example]) -> list[Example]:
    """Pool questions the teacher has not been asked about yet (answered or failed)."""
    attempted = store.attempted_ids()
    return [e for e in pool if e.id not in attempted]


def worst_case_cost(teacher: Teacher, prices: Prices, request: TeacherRequest) -> float:
    """The most `request` may cost: what the budget reserves for it."""
    return prices.cost(*worst_case(teacher, request.prompt))


@dataclass
class CallResult:
    reply: TeacherReply | None  # None: skipped, it did not fit in the budget
    cost_usd: float
    cached: bool


class TeacherGateway:
    def __init__(self, teacher: Teacher, store: RunStore, prices: Prices,
                 concurrency: int = 1, batch: bool = False):
        self.teacher = teacher
        self.store = store
        self.prices = prices
        self.concurrency = concurrency
        self.batch = batch  # the teacher is an OpenAITeacher: send through its Batch API
        self.new_calls = 0  # calls actually made by this process

    @property
    def name(self) -> str:
        return self.teacher.name

    def worst_case_cost(self, request: TeacherRequest) -> float:
        return worst_case_cost(self.teacher, self.prices, request)

    def call_all(self, requests: list[tuple[TeacherRequest, str]], round: int,
                 budget: Budget) -> list[CallResult]:
        """Ask the teacher every (request, example id); results in the same order."""
        stopped: list[int] = []
        try:
            return asyncio.run(stoppable(self._call_all(requests, round, budget), stopped))
        except asyncio.CancelledError:
            if stopped:  # as Ctrl-C ends the sending (cli.main prints the line)
                raise KeyboardInterrupt from None
            raise

    async def _call_all(self, requests: list[tuple[TeacherRequest, str]], round: int,
                        budget: Budget) -> list[CallResult]:
        results: list[CallResult | None] = [None] * len(requests)
        pending, sender = [], {}  # sender: request key -> the index that sends it
        for i, (request, _) in enumerate(requests):
            cached = self.store.cached_reply(request.key)
            if cached is None and request.key in sender:  # the same request twice
                continue
            # as billed (batch or not); of a failure asked again, what its attempts may
            # have cost, which still counts
            cost = self.store.call_cost(request.key)
            budget.charge(cost)
            if cached is None:
                sender[request.key] = i
                pending.append(i)
            else:
                results[i] = CallResult(cached, cost, cached=True)

        if not pending:
            return results
        log.info("%s: teacher: %d request%s to send, %d answered before", round_name(round),
                 len(pending), "" if len(pending) == 1 else "s",
                 len(requests) - len(pending))
        started, cost_before, to_send = time.perf_counter(), budget.spent, list(pending)
        progress = meter(len(pending), f"{round_name(round)}: teacher", "call")

        def record(i: int, reply: TeacherReply, cost: float,
                   in_flight: int | None = None) -> None:
            request, example_id = requests[i]
            with self.store.transaction():  # the reply and its ledger row settle together
                self.store.save_teacher_call(request.key, round, example_id,
                                             request.as_dict(), reply, cost)
                if in_flight is not None:
                    self.store.settle(in_flight)
            self.new_calls += 1
            results[i] = CallResult(reply, cost, cached=False)
            progress.update()

        try:
            if self.batch:
                await self._send_batch(requests, pending, round, budget, record, results)
            else:
                pending = await self._collect_batched(requests, pending, round, budget,
                                                      record, results)
                await self._send_online(requests, pending, round, budget, record, results)
        finally:
            progress.close()
            await self.teacher.aclose()
        replies = [results[i].reply for i in to_send if results[i] and results[i].reply]
        unsent = len(to_send) - len(replies)  # no longer in the budget
        log.info("%s: teacher: %d of %d requests got a usable reply%s in %.1fs, $%.4f",
                 round_name(round), sum(r.ok for r in replies), len(to_send),
                 f", {unsent} not sent (the budget)" if unsent else "",
                 time.perf_counter() - started, budget.spent - cost_before)
        for i, (request, _) in enumerate(requests):  # the same request twice: one reply
            if results[i] is None:
                results[i] = CallResult(results[sender[request.key]].reply, 0.0, cached=True)
        return results

    def _write_ahead(self, allowance: Allowance, key: str, round: int,
                     example_id: str) -> list[int | None]:
        """Commit what the request holds to the store's ledger each time it grows
        (before each attempt is sent); returns [the ledger row] once one is written."""
        row: list[int | None] = [None]

        def hold(usd: float) -> None:
            row[0] = self.store.send_ahead(row[0], key, round, example_id, usd)

        allowance.on_hold = hold
        return row

    async def _send_online(self, requests, pending, round, budget, record,
                           results) -> None:
        """Concurrent calls, each holding its worst case while in flight. Interrupted
        (Ctrl-C), or stopped by one call's error (a refused key, a teacher that cannot
        be reached), it waits for the calls already sent (`drain`) and records their
        replies, which are paid for: a rerun would pay them again."""
        slots = asyncio.Semaphore(self.concurrency)
        settled = asyncio.Condition()
        stopping = asyncio.Event()
        sent: set[asyncio.Task] = set()
        unusable: list[str] = []  # of the replies recorded, in order: `unusable_kind`

        async def one(i: int) -> None:
            request, example_id = requests[i]
            async with slots:
                allowance = Allowance(budget, self.prices, settled, stopping)
                row = self._write_ahead(allowance, request.key, round, example_id)
                if not await allowance.ensure(*worst_case(self.teacher, request.prompt)):
                    results[i] = CallResult(None, 0.0, cached=False)
                    return
                sent.add(asyncio.current_task())
                try:
                    reply = await self.teacher.complete(request, allowance)
                except TeacherUnavailable:  # refused or unreached: billed what it used
                    allowance.keep_used()
                    raise
                except StoppedInFlight as stopped:  # its paid reply is kept; it stops
                    record(i, stopped.reply, self.prices.cost(stopped.reply.input_tokens,
                                                              stopped.reply.output_tokens),
                           row[0])
                    raise
                cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
                record(i, reply, cost, row[0])
                await allowance.settle(cost)
                if len(unusable) < FIRST_UNUSABLE_STOP:  # only the first ones count
                    unusable.append(unusable_kind(reply, self.store.replied))
                if len(unusable) == FIRST_UNUSABLE_STOP and all(unusable):
                    stopping.set()  # before another request takes the slot
                    raise TeacherUnavailable(unusable_stop(round, reply, set(unusable)))

        calls = [asyncio.create_task(one(i)) for i in pending]
        if not calls:  # all collected from a batch
            return
        try:
            done, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:  # Ctrl-C: what was sent is paid, so wait for it
            await drain(calls, sent, stopping, "interrupted")
            raise
        failed = [call for call in done if not call.cancelled() and call.exception()]
        if failed:  # the teacher stopped the run: the same wait, then its error
            await drain(calls, sent, stopping, "the teacher stopped the run")
            failed[0].result()

    async def _send_batch(self, requests, pending, round, budget, record, results) -> None:
        """One Batch API batch (and more for what it leaves to ask again)."""
        from elad.teacher.batch import BatchSender  # the openai package

        def done(j: int, reply: TeacherReply | None, cost: float) -> None:
            if reply is None:
                results[pending[j]] = CallResult(None, 0.0, cached=False)
            else:
                record(pending[j], reply, cost)

        sender = BatchSender(self.teacher, self.store, self.prices)
        await sender.send([requests[i] for i in pending], round, budget, done)

    async def _collect_batched(self, requests, pending, round, budget, record,
                               results) -> list[int]:
        """Without `batch`: the pending requests that went out in a batch (one still
        open, or collected before a kill) are collected from it at the batch price, and
        its unusable replies asked again in batches (BatchSender.hand_over); returns
        those left to send online."""
        opened = self.store.open_batch()
        in_batch = set(opened["keys"]) if opened else set()
        mine = [i for i in pending if requests[i][0].key in in_batch
                or self.store.batch_outcomes(requests[i][0].key)]
        if not mine:
            return pending
        from elad.teacher.batch import BatchSender  # the openai package

        def done(j: int, reply: TeacherReply | None, cost: float) -> None:
            if reply is not None:
                record(mine[j], reply, cost)

        prices = teacher_prices(dataclasses.replace(self.teacher.config, batch=True))
        await BatchSender(self.teacher, self.store, prices).send(
            [requests[i] for i in mine], round, budget, done, collect_only=True)
        return [i for i in pending if results[i] is None]


def unusable_kind(reply: TeacherReply, replied: Callable[[], bool]) -> str:
    """'unusable' for a reply given up as not usable (paid for); 'refused' for a request
    the server refused (billed nothing) while the run has had no reply (`replied()`): a
    server or a setting that refuses every request, not one question's own refusal (a
    content filter, a prompt too long), which a paid run would meet again on every
    rerun; 'no reply' for one whose retries ran out, likewise; '' for any other: what
    FIRST_UNUSABLE_STOP counts."""
    if reply.ok:
        return ""
    if reply.error.startswith(NO_USABLE_REPLY):
        return "unusable"
    if replied():
        return ""
    return "no reply" if no_reply(reply) else \
        "refused" if reply.error.startswith(REFUSED_REQUEST) else ""


def unusable_stop(round: int, last: TeacherReply, kinds: set[str]) -> str:
    """Why the sending stopped after FIRST_UNUSABLE_STOP unusable replies, refused
    requests or requests with no reply (`kinds`: which there were), and what can be
    changed in this run: anything, if it has had no reply; else not its teacher's
    settings."""
    if "unusable" not in kinds and "no reply" in kinds:  # and maybe refused ones
        return (f"{round_name(round)}: the teacher gave no reply to the first "
                f"{FIRST_UNUSABLE_STOP} requests after their retries (the last: "
                f"{last.error}); stopped before sending more. A request with no reply is "
                "asked again by a rerun: a server that is up, or a longer "
                "teacher.timeout_s, lets them through")
    if kinds == {"refused"}:
        return (f"{round_name(round)}: the server refused the first {FIRST_UNUSABLE_STOP} "
                f"requests (the last: {last.error.removeprefix(REFUSED_REQUEST).strip()}); "
                "stopped before sending more of the same. A refused request is billed "
                "nothing and asked again by a rerun: fix the server, or what it names, "
                "then rerun (this run has had no reply, so any setting may change, unless "
                "a request still in flight gets one)")
    return (f"{round_name(round)}: the teacher's first {FIRST_UNUSABLE_STOP} replies could "
            f"not be used (the last: {last.error}); stopped before paying for more of the "
            "same. Those are paid and kept; a higher teacher.max_invalid asks the requests "
            "not sent yet more times, in this run; teacher.model, "
            "teacher.structured_output, teacher.max_output_tokens and task.labels change "
            "only in another --run-dir (this one keeps what it paid for)")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # what `timeout`, Slurm, a closed terminal send


async def stoppable(calls, stopped: list[int]):
    """Await `calls`, which SIGTERM and SIGHUP cancel as asyncio's Ctrl-C does: the
    first signal ends the sending and waits for the requests in flight (`drain`), a
    second ends the wait. `stopped` gets the signals. Done here, not by raising SIGINT:
    a background job ignores SIGINT, so asyncio never handles it there, and the replies
    in flight were lost and paid for again by the rerun."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    installed = {}  # signal -> the handler it had (cli's), put back after
    if threading.current_thread() is threading.main_thread():
        for stop in STOP_SIGNALS:
            before = signal.getsignal(stop)
            if before is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                loop.add_signal_handler(stop, lambda s=stop: (stopped.append(s),
                                                               task.cancel()))
                installed[stop] = before
    try:
        return await calls
    finally:
        for stop, before in installed.items():
            loop.remove_signal_handler(stop)
            signal.signal(stop, before)


async def drain(calls: list[asyncio.Task], sent: set[asyncio.Task], stopping: asyncio.Event,
                why: str) -> None:
    """Stop sending (`stopping`: no new request, no retry), cancel the calls not sent
    yet, and wait at most DRAIN_S for those in flight: their replies are paid for."""
    stopping.set()
    in_flight = [call for call in sent if not call.done()]
    for call in set(calls) - sent:
        call.cancel()
    if in_flight:
        log.warning("%s: waiting up to %ds for the %d teacher requests in flight (a "
                    "Ctrl-C stops the wait at once)", why, DRAIN_S, len(in_flight))
        await asyncio.wait(in_flight, timeout=DRAIN_S)
    for call in in_flight:
        if call.done() and not call.cancelled():
            call.exception()  # seen: theirs is not the error the run stops with
        call.cancel()
