"""Question sources. Each yields Examples; the pool's answers stay hidden from the loop.

`task.kind` picks one: `synthetic` (built in, exact solutions), or a reasoning dataset
read by `files` with the module of its name (gsm8k, svamp, aqua, strategyqa, jsonl).
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

from elad.config import TaskConfig
from elad.tasks import aqua, gsm8k, jsonl, strategyqa, svamp, synthetic
from elad.tasks.files import (
    Solved,
    TaskData,
    answer_type_of,
    load,
    read_split,
    solved_by_id,
    splits,
)
from elad.types import Example

SYNTHETIC_POOL, SYNTHETIC_TEST = 3000, 300  # task.pool_size, test_size = 0
DATASETS = {"gsm8k": gsm8k, "svamp": svamp, "aqua": aqua, "strategyqa": strategyqa,
            "jsonl": jsonl}
ANSWER_TYPES = {**synthetic.ANSWER_TYPES,
                **{kind: m.ANSWER_TYPE for kind, m in DATASETS.items() if m.ANSWER_TYPE}}


def dataset_module(config: TaskConfig) -> ModuleType:
    return DATASETS[config.kind]


def load_task(config: TaskConfig, seed: int) -> TaskData:
    """The task's pool and labeled test questions; size 0 is the synthetic task's
    3000 and 300, and all of a file's (files.load). An empty test list: the teacher
    annotates the run's test set (testset.py)."""
    if config.kind == "synthetic":
        data = synthetic.load(config.families, config.pool_size or SYNTHETIC_POOL,
                              config.test_size or SYNTHETIC_TEST, seed, config.min_steps)
        return dataclasses.replace(data, test=[]) if config.test_from_teacher else data
    return load(dataset_module(config), config, seed)


def answer_type(example: Example) -> str:
    """How the answers of this example's task are normalized (number, yesno, ...); a
    jsonl task's name carries its configured type ("jsonl-choice")."""
    if example.task.startswith("jsonl-"):
        return example.task.removeprefix("jsonl-")
    return ANSWER_TYPES[example.task]


def hidden_answer(example: Example, config: TaskConfig | None = None) -> str | None:
    """The answer of a pool question, for diagnostics and a bench's `strategy=oracle`
    ceiling only (never for a strategy a user would choose by);
    None for an unlabeled line of user data. Dataset questions need their task config
    to find the item."""
    if example.answer is not None:
        return example.answer
    if example.task in synthetic.ANSWER_TYPES:
        return synthetic.solve(example.question)[1]
    return solved_by_id(dataset_module(config), config, example.id).answer


def reference_solutions(config: TaskConfig) -> list[Solved]:
    """Every pool and test item of a dataset task, with its human rationale."""
    dataset = dataset_module(config)
    names = dict.fromkeys(splits(dataset, config))
    return [s for split in names for s in read_split(dataset, config, split).values()
            if s.answer is not None]


def dataset_answer_type(config: TaskConfig) -> str:
    return answer_type_of(dataset_module(config), config)


def options_field(config: TaskConfig) -> str:
    """The field a question's options are kept apart in, which elad writes after the
    question ('' for none): a user file's task.options_field, or a dataset's own
    (AQuA's)."""
    if config.kind == "synthetic":
        return ""
    return config.options_field or getattr(dataset_module(config), "OPTIONS_FIELD", "")
