"""Every teacher request goes through here: cache lookup, budget check, call, record.

The request (teacher name, operation, prompt version, question, student steps, hint) is
hashed; a reply already in the run store is returned without calling or paying again. A
new call is made only if its worst-case cost (the prompt's tokens plus the teacher's
`max_output_tokens`) fits in the budget, and its reply is written to the store the moment
it returns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from elad.budget import Budget, Prices, count_tokens
from elad.store import RunStore
from elad.teacher.protocol import Teacher, render, template
from elad.types import TeacherReply


@dataclass
class CallResult:
    reply: TeacherReply | None  # None: skipped, it did not fit in the budget
    cost_usd: float
    cached: bool


class CachedTeacher:
    def __init__(self, teacher: Teacher, store: RunStore, prices: Prices):
        self.teacher = teacher
        self.store = store
        self.prices = prices
        self.new_calls = 0  # calls actually made by this process

    @property
    def name(self) -> str:
        return self.teacher.name

    def request(self, op: str, question: str, steps: list[str] | None = None,
                answer: str | None = None, hint: int | None = None) -> dict:
        version, _ = template(op)
        return {"teacher": self.teacher.name, "op": op, "template": version,
                "question": question, "steps": steps, "answer": answer, "hint": hint,
                "max_output_tokens": self.teacher.max_output_tokens}

    def worst_case_cost(self, request: dict) -> float:
        prompt = render(request["op"], request["question"], request["steps"],
                        request["answer"], request["hint"])
        return self.prices.cost(count_tokens(prompt), self.teacher.max_output_tokens)

    def call(self, request: dict, round: int, example_id: str, budget: Budget) -> CallResult:
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        cached = self.store.cached_reply(key)
        if cached is not None:
            cost = self.prices.cost(cached.input_tokens, cached.output_tokens)
            budget.charge(cost)
            return CallResult(cached, cost, cached=True)
        if not budget.fits(self.worst_case_cost(request)):
            return CallResult(None, 0.0, cached=False)
        if request["op"] == "annotate":
            reply = self.teacher.annotate(request["question"])
        else:
            reply = self.teacher.revise(request["question"], request["steps"],
                                        request["answer"], request["hint"])
        cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
        self.store.save_teacher_call(key, round, example_id, request, reply, cost)
        self.new_calls += 1
        budget.charge(cost)
        return CallResult(reply, cost, cached=False)
