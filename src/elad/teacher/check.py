"""`elad teacher check`: one tiny request, to see that the teacher answers and what the
configured run would cost before paying for it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from elad.budget import (Allowance, Budget, Prices, count_tokens, teacher_prices, usd,
                         worst_case)
from elad.config import RunConfig
from elad.estimate import Estimate, estimate_task, limit_line
from elad.tasks import load_task
from elad.teacher import make_teacher
from elad.teacher.gateway import annotate_request
from elad.teacher.request import TeacherRequest
from elad.types import TeacherReply


@dataclass
class CheckResult:
    teacher: str
    model: str
    base_url: str
    latency_s: float
    reply: TeacherReply
    prices: Prices
    estimate: Estimate  # the configured run, priced from this reply's token counts


async def _annotate(teacher, request: TeacherRequest, prices: Prices) -> TeacherReply:
    allowance = Allowance(Budget(float("inf")), prices, asyncio.Condition())
    await allowance.ensure(*worst_case(teacher, request.prompt))
    try:
        return await teacher.complete(request, allowance)
    finally:
        await teacher.aclose()


def check_teacher(config: RunConfig) -> CheckResult:
    """Annotate the task's first pool question (in the run's seeded order) once;
    estimate the run (estimate.py) with this reply's length and the teacher's own count
    of the prompt's tokens."""
    teacher = make_teacher(config.teacher, config.task)
    prices = teacher_prices(config.teacher)
    data = load_task(config.task, config.seed)
    pool = data.pool
    started = time.perf_counter()
    request = annotate_request(teacher, pool[0], config.task.labels)
    reply = asyncio.run(_annotate(teacher, request, prices))
    latency = time.perf_counter() - started
    measured = reply.ok and reply.input_tokens > 0  # else: the offline estimate's counts
    scale = reply.input_tokens / max(1, count_tokens(request.prompt)) if measured else 1.0
    outlook = estimate_task(config, data, reply.output_tokens if measured else None, scale)
    return CheckResult(teacher.name, config.teacher.model, config.teacher.base_url, latency,
                       reply, prices, outlook)


def format_check(result: CheckResult, config: RunConfig) -> str:
    reply, prices, outlook = result.reply, result.prices, result.estimate
    where = f" at {result.base_url}" if result.teacher == "openai" else ""
    usable = "usable" if reply.ok else f"NOT usable: {reply.error}"
    one_request = prices.cost(reply.input_tokens, reply.output_tokens)
    return "\n".join([
        f"teacher: {result.teacher}, model {result.model}{where}",
        (f"reply in {result.latency_s:.2f}s: {reply.input_tokens} input + "
         f"{reply.output_tokens} output tokens, {usable}"),
        (f"price: ${prices.input_per_mtok / 1000:.6f} per 1k input tokens, "
         f"${prices.output_per_mtok / 1000:.6f} per 1k output tokens"),
        f"this request: ${one_request:.6f}",
        (f"the configured run (mode {config.mode}), priced "
         f"{'from this reply' if reply.ok else 'offline (this reply is not usable)'}: "
         f"about {usd(outlook.run.expected)} for {outlook.requests} requests"),
        f"what ends it: {limit_line(outlook, config)}",
        (f"annotating the whole pool instead: {outlook.pool:,} requests, about "
         f"{usd(outlook.whole_pool.expected)}"),
        *([(f"teacher-annotated test set: {outlook.test:,} requests, about "
            f"{usd(outlook.test_set.expected)}, paid first out of budget_usd")]
          if outlook.test else []),
    ])
