"""Every teacher request goes through here: cache lookup, budget, concurrent calls, record.

A request is everything that determines the reply: the teacher's identity (name, and for
an LLM its base URL, model and parameters), the operation, the prompt template version,
the rendered prompt, the student's steps and the task's answer type. Its hash keys the
run store's cache: a reply already there is returned without calling or paying again.

New requests run concurrently (asyncio, at most `concurrency` in flight). Before each
attempt its worst-case cost (prompt tokens + `max_output_tokens`) is reserved from the
budget, counting every request in flight; an attempt that does not fit waits for those in
flight to settle and is skipped if it still does not fit. Each reply is written to the
store the moment it arrives, so a killed run loses at most the requests in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass

from tqdm import tqdm

from elad.budget import Budget, Prices
from elad.store import RunStore
from elad.teacher.protocol import Teacher, render, template
from elad.types import TeacherReply

log = logging.getLogger("elad")


@dataclass
class CallResult:
    reply: TeacherReply | None  # None: skipped, it did not fit in the budget
    cost_usd: float
    cached: bool


def request_key(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


class Allowance:
    """One request's share of the budget. Its first attempt's worst case is reserved
    before the teacher is called; a teacher that retries calls `ensure` before each
    further attempt and `use` for what each attempt was billed, so a request never holds
    less than the worst case of the attempt it is about to send."""

    def __init__(self, budget: Budget, prices: Prices, settled: asyncio.Condition):
        self.budget = budget
        self.prices = prices
        self.settled = settled
        self.reserved = 0.0
        self.used_usd = 0.0

    async def ensure(self, input_tokens: int, output_tokens: int) -> bool:
        """Hold at least this attempt's worst case; False if that cannot fit even when
        every other request in flight has settled."""
        needed = self.prices.cost(input_tokens, output_tokens) - (self.reserved - self.used_usd)
        if needed <= 0:
            return True
        async with self.settled:
            await self.settled.wait_for(
                lambda: self.budget.fits(needed)
                or self.budget.reserved - self.reserved <= 1e-12)
            if not self.budget.fits(needed):
                return False
            self.budget.reserve(needed)
            self.reserved += needed
            return True

    def use(self, input_tokens: int, output_tokens: int) -> None:
        self.used_usd += self.prices.cost(input_tokens, output_tokens)

    async def settle(self, cost: float) -> None:
        async with self.settled:
            self.budget.settle(self.reserved, cost)
            self.reserved = 0.0
            self.settled.notify_all()


class CachedTeacher:
    def __init__(self, teacher: Teacher, store: RunStore, prices: Prices,
                 concurrency: int = 1, show_progress: bool = False):
        self.teacher = teacher
        self.store = store
        self.prices = prices
        self.concurrency = concurrency
        self.show_progress = show_progress
        self.new_calls = 0  # calls actually made by this process

    @property
    def name(self) -> str:
        return self.teacher.name

    def request(self, op: str, question: str, answer_type: str,
                steps: list[str] | None = None, answer: str | None = None,
                hint: int | None = None) -> dict:
        version, _ = template(op)
        return {**self.teacher.identity(), "op": op, "template": version,
                "prompt": render(op, question, steps, answer, hint),
                "question": question, "steps": steps, "answer": answer, "hint": hint,
                "answer_type": answer_type}

    def worst_case_cost(self, request: dict) -> float:
        return self.prices.cost(self.teacher.worst_case_input_tokens(request["prompt"]),
                                self.teacher.max_output_tokens)

    def call_all(self, requests: list[tuple[dict, str]], round: int,
                 budget: Budget) -> list[CallResult]:
        """Ask the teacher every (request, example id); results in the same order."""
        return asyncio.run(self._call_all(requests, round, budget))

    async def _call_all(self, requests: list[tuple[dict, str]], round: int,
                        budget: Budget) -> list[CallResult]:
        results: list[CallResult | None] = [None] * len(requests)
        pending = []
        for i, (request, _) in enumerate(requests):
            cached = self.store.cached_reply(request_key(request))
            if cached is None:
                pending.append(i)
                continue
            cost = self.prices.cost(cached.input_tokens, cached.output_tokens)
            budget.charge(cost)
            results[i] = CallResult(cached, cost, cached=True)

        slots = asyncio.Semaphore(self.concurrency)
        settled = asyncio.Condition()
        progress = tqdm(total=len(pending), desc=f"round {round}: teacher", unit="call",
                        disable=not self.show_progress or not pending, leave=False)

        async def one(i: int) -> None:
            request, example_id = requests[i]
            async with slots:
                allowance = Allowance(budget, self.prices, settled)
                if not await allowance.ensure(
                        self.teacher.worst_case_input_tokens(request["prompt"]),
                        self.teacher.max_output_tokens):
                    results[i] = CallResult(None, 0.0, cached=False)
                    return
                reply = await self._ask(request, allowance)
                cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
                self.store.save_teacher_call(request_key(request), round, example_id,
                                             request, reply, cost)
                self.new_calls += 1
                await allowance.settle(cost)
                results[i] = CallResult(reply, cost, cached=False)
                progress.update()

        try:
            await asyncio.gather(*(one(i) for i in pending))
        finally:
            progress.close()
            await self.teacher.aclose()
        return results

    async def _ask(self, request: dict, allowance: Allowance) -> TeacherReply:
        if request["op"] == "annotate":
            return await self.teacher.annotate(request["question"], request["answer_type"],
                                               allowance)
        return await self.teacher.revise(request["question"], request["steps"],
                                         request["answer"], request["hint"],
                                         request["answer_type"], allowance)
