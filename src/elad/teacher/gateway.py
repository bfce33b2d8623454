"""The teacher gateway: every teacher request goes through here (its worst case, cache
lookup, budget, concurrent or batched calls, record).

A request (teacher/request.py) holds everything that determines the reply; its key
indexes the run store's cache: a reply already there is returned without calling or
paying again, and a request given twice is sent once.

New requests run concurrently (asyncio, at most `concurrency` in flight). Before each
attempt its worst-case cost is reserved from the budget, counting every request in
flight (budget.Allowance); an attempt that does not fit waits for those in flight to
settle and is skipped if it still does not fit. Each reply is written to the store the
moment it arrives, so a killed run loses at most the requests in flight.

With `batch` (an OpenAI teacher, `teacher.batch=true`) new requests go out as one
Batch API batch instead (teacher/batch.py), each reply recorded as it is collected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from elad.budget import Allowance, Budget, Prices, worst_case
from elad.progress import meter
from elad.store import RunStore
from elad.teacher.protocol import Teacher
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply

log = logging.getLogger("elad")


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

    def annotate_request(self, question: str, answer_type: str) -> TeacherRequest:
        return TeacherRequest.annotate(self.teacher.identity(), question, answer_type)

    def worst_case_cost(self, request: TeacherRequest) -> float:
        return worst_case_cost(self.teacher, self.prices, request)

    def call_all(self, requests: list[tuple[TeacherRequest, str]], round: int,
                 budget: Budget) -> list[CallResult]:
        """Ask the teacher every (request, example id); results in the same order."""
        return asyncio.run(self._call_all(requests, round, budget))

    async def _call_all(self, requests: list[tuple[TeacherRequest, str]], round: int,
                        budget: Budget) -> list[CallResult]:
        results: list[CallResult | None] = [None] * len(requests)
        pending, sender = [], {}  # sender: request key -> the index that sends it
        for i, (request, _) in enumerate(requests):
            cached = self.store.cached_reply(request.key)
            if cached is None:
                if request.key not in sender:
                    sender[request.key] = i
                    pending.append(i)
                continue
            cost = self.prices.cost(cached.input_tokens, cached.output_tokens)
            budget.charge(cost)
            results[i] = CallResult(cached, cost, cached=True)

        if not pending:
            return results
        log.info("round %d: teacher: %d requests to send, %d answered before", round,
                 len(pending), len(requests) - len(pending))
        started, cost_before = time.perf_counter(), budget.spent
        progress = meter(len(pending), f"round {round}: teacher", "call")

        def record(i: int, reply: TeacherReply, cost: float) -> None:
            request, example_id = requests[i]
            self.store.save_teacher_call(request.key, round, example_id,
                                         request.as_dict(), reply, cost)
            self.new_calls += 1
            results[i] = CallResult(reply, cost, cached=False)
            progress.update()

        try:
            if self.batch:
                await self._send_batch(requests, pending, round, budget, record, results)
            else:
                await self._send_online(requests, pending, budget, record, results)
        finally:
            progress.close()
            await self.teacher.aclose()
        log.info("round %d: teacher: done in %.1fs, $%.4f", round,
                 time.perf_counter() - started, budget.spent - cost_before)
        for i, (request, _) in enumerate(requests):  # the same request twice: one reply
            if results[i] is None:
                results[i] = CallResult(results[sender[request.key]].reply, 0.0, cached=True)
        return results

    async def _send_online(self, requests, pending, budget, record, results) -> None:
        """Concurrent calls, each holding its worst case while in flight."""
        slots = asyncio.Semaphore(self.concurrency)
        settled = asyncio.Condition()

        async def one(i: int) -> None:
            request, _ = requests[i]
            async with slots:
                allowance = Allowance(budget, self.prices, settled)
                if not await allowance.ensure(*worst_case(self.teacher, request.prompt)):
                    results[i] = CallResult(None, 0.0, cached=False)
                    return
                reply = await self.teacher.complete(request, allowance)
                cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
                record(i, reply, cost)
                await allowance.settle(cost)

        await asyncio.gather(*(one(i) for i in pending))

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
