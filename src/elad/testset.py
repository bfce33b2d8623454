"""The run's test set: the task's labeled test questions, or, when it has none (or
`task.test_from_teacher` asks for it), pool questions held out and annotated by the
teacher.

Held-out questions leave the pool before anything is selected, so they are never
chosen nor trained on. Their requests go through the run's TeacherGateway at round
TEST_ROUND (store.py): cached, reserved and written ahead like every request, so a
resumed run finds its replies and pays nothing twice (a question asked before is asked
as it was, whatever this version's prompt says). Their dollars come out of
`budget_usd` and are shown apart ("test set $"). A question whose reply is not usable
leaves the test set (and stays out of the pool).
"""

from __future__ import annotations

import logging
import random

from elad.budget import Budget
from elad.config import ConfigError, RunConfig
from elad.store import TEST_ROUND
from elad.tasks.synthetic import TaskData
from elad.teacher.gateway import TeacherGateway, annotate_request
from elad.teacher.protocol import TeacherUnavailable
from elad.teacher.request import TeacherRequest
from elad.types import Example

log = logging.getLogger("elad")
AUTO_SIZE = 100  # task.test_from_teacher=0 without labeled test questions: at most this
AUTO_SHARE = 5  # ... and at most a fifth of the pool


def teacher_test_size(config: RunConfig, data: TaskData) -> int:
    """How many pool questions the teacher annotates for the test set (0: none, the
    task has labeled test questions)."""
    if config.task.test_from_teacher:
        return config.task.test_from_teacher
    return 0 if data.test else min(AUTO_SIZE, len(data.pool) // AUTO_SHARE)


def hold_out(config: RunConfig, pool: list[Example], size: int
             ) -> tuple[list[Example], list[Example]]:
    """(the pool left, the `size` questions held out for the test set): a seeded
    choice, so a resumed run holds out the same ones."""
    what = f"task.test_from_teacher={config.task.test_from_teacher}" + (
        "" if config.task.test_from_teacher else f" (automatic: {size})")
    if size >= len(pool):
        raise ConfigError(f"{what} is not smaller than the pool ({len(pool)} questions)")
    if len(pool) - size < config.seed_size:
        raise ConfigError(f"{what} leaves {len(pool) - size} pool questions, fewer than "
                          f"seed_size={config.seed_size}; lower it")
    held = set(random.Random(f"test-set-{config.seed}").sample(range(len(pool)), size))
    return ([e for i, e in enumerate(pool) if i not in held],
            [e for i, e in enumerate(pool) if i in held])


def annotated(config: RunConfig, gateway: TeacherGateway,
              questions: list[Example]) -> list[Example]:
    """`questions` with the teacher's answers (those with a usable reply), asked
    through `gateway` at round TEST_ROUND out of `budget_usd`. Refused (ConfigError)
    before anything is sent when their worst case does not fit in the budget."""
    store = gateway.store
    # a question asked before is asked as it was then, under its key, even where this
    # elad would word it otherwise (choice prompts gained a line): never paid twice
    sent = {call.example_id: TeacherRequest.from_dict(call.request)
            for call in store.teacher_calls(TEST_ROUND)}
    requests = [(sent.get(e.id) or annotate_request(gateway.teacher, e, config.task.labels),
                 e.id) for e in questions]
    worst = sum(gateway.worst_case_cost(r) for r, _ in requests
                if store.cached_reply(r.key) is None)
    budget = Budget(config.budget_usd, store.spent_usd())
    if not budget.fits(worst):
        raise ConfigError(f"budget_usd={config.budget_usd} does not cover the teacher "
                          f"annotating the {len(questions)} test questions (worst case "
                          f"${worst:.4f}, ${budget.left:.4f} left); raise budget_usd or "
                          "give labeled test questions (task.test_path)")
    results = gateway.call_all(requests, TEST_ROUND, budget)
    test = [Example(e.id, e.task, e.question, result.reply.answer)
            for e, result in zip(questions, results)
            if result.reply is not None and result.reply.ok and result.reply.answer]
    failed = [r.reply.error for r in results if r.reply is not None and r.reply.error]
    if len(test) < len(questions):
        log.warning("test set: %d of %d teacher annotations not usable%s; those questions "
                    "are left out", len(questions) - len(test), len(questions),
                    f" (the first: {failed[0]})" if failed else "")
    if not test:
        why = f"the first failure: {failed[0]}; " if failed else ""
        raise TeacherUnavailable(f"no usable teacher annotation for any test question "
                                 f"({why}a rerun asks again what was not paid for); or "
                                 "give labeled test questions (task.test_path)")
    return test


def pool_and_test(config: RunConfig, gateway: TeacherGateway, data: TaskData
             ) -> tuple[list[Example], list[Example]]:
    """(the pool, the test set) of a run of `data`, logged in one line."""
    size = teacher_test_size(config, data)
    if not size:
        log.info("pool: %d questions from %s, test: %d from %s", len(data.pool),
                 data.pool_from, len(data.test), data.test_from)
        return data.pool, data.test
    pool, held = hold_out(config, data.pool, size)
    why = ("task.test_from_teacher" if config.task.test_from_teacher
           else "automatic: no labeled test question")
    log.info("pool: %d questions, those from %s but the %d held out; test: those %d, "
             "annotated by the teacher (%s; paid out of budget_usd, shown apart)",
             len(pool), data.pool_from, size, size, why)
    return pool, annotated(config, gateway, held)
