"""Question sources. Each yields Examples; the pool's answers stay hidden from the loop."""

from __future__ import annotations

from elad.config import TaskConfig
from elad.tasks import synthetic
from elad.tasks.synthetic import TaskData
from elad.types import Example


def load_task(config: TaskConfig, seed: int) -> TaskData:
    return synthetic.load(config.families, config.pool_size, config.test_size, seed)


def answer_type(example: Example) -> str:
    """How the answers of this example's task are normalized (number, yesno, ...)."""
    return synthetic.ANSWER_TYPES[example.task]


def hidden_answer(example: Example) -> str | None:
    """The answer of a pool question, for diagnostics only (never for selection)."""
    return example.answer if example.answer is not None else synthetic.solve(example.question)[1]
