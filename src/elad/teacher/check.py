"""`elad teacher check`: one tiny request, to see that the teacher answers and what the
configured run would cost before paying for it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from elad.budget import Allowance, Budget, Prices, count_tokens, teacher_prices, worst_case
from elad.config import RunConfig
from elad.tasks import answer_type, load_task
from elad.teacher import make_teacher
from elad.teacher.request import TeacherRequest, render
from elad.types import TeacherReply


@dataclass
class CheckResult:
    teacher: str
    model: str
    base_url: str
    latency_s: float
    reply: TeacherReply
    prices: Prices
    requests: int  # teacher requests the configured run makes at most
    estimate_usd: float  # what they would cost, from this reply's token counts


async def _annotate(teacher, request: TeacherRequest, prices: Prices) -> TeacherReply:
    allowance = Allowance(Budget(float("inf")), prices, asyncio.Condition())
    await allowance.ensure(*worst_case(teacher, request.prompt))
    try:
        return await teacher.complete(request, allowance)
    finally:
        await teacher.aclose()


def check_teacher(config: RunConfig) -> CheckResult:
    """Annotate the task's first pool question once; estimate the run's cost by scaling
    this request's token counts to every request the run would make (revise prompts are
    longer: they carry the student's steps, taken here as the size of this reply)."""
    teacher = make_teacher(config.teacher, config.task)
    prices = teacher_prices(config.teacher)
    example = load_task(config.task, config.seed).pool[0]
    started = time.perf_counter()
    request = TeacherRequest.annotate(teacher.identity(), example.question,
                                      answer_type(example))
    reply = asyncio.run(_annotate(teacher, request, prices))
    latency = time.perf_counter() - started

    annotate_prompt = request.prompt
    revise_prompt = render("revise", example.question, reply.steps, reply.answer)
    scale = reply.input_tokens / max(1, count_tokens(annotate_prompt))
    one_annotation = prices.cost(reply.input_tokens, reply.output_tokens)
    one_revision = prices.cost(round(count_tokens(revise_prompt) * scale), reply.output_tokens)
    later = config.max_rounds * config.round_size
    estimate = config.seed_size * one_annotation + later * (
        one_revision if config.mode == "revise" else one_annotation)
    return CheckResult(teacher.name, config.teacher.model, config.teacher.base_url, latency,
                       reply, prices, config.seed_size + later, estimate)


def format_check(result: CheckResult, config: RunConfig) -> str:
    reply, prices = result.reply, result.prices
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
        (f"the configured run ({config.seed_size} seed questions + {config.max_rounds} "
         f"rounds x {config.round_size}, mode {config.mode}): about "
         f"${result.estimate_usd:.4f} for {result.requests} requests; budget_usd stops it "
         f"at ${config.budget_usd:.2f}"),
    ])
