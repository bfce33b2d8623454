"""StrategyQA (eladsegal/strategyqa): yes/no questions that need implicit reasoning.

One JSON array of items with `question`, `answer` (true/false), `facts` and
`decomposition` (sub-questions; "#1" refers to the first one's answer). The rationale is
the decomposition written as one plan step, then one step per fact.
"""

from __future__ import annotations

from elad.config import TaskConfig
from elad.tasks.files import Malformed, text_field

SPLITS = {"train": "train.json", "dev": "dev.json"}
ANSWER_TYPE = "yesno"
DEFAULT_SPLITS = ("train", "dev")





def _texts(item: dict, name: str) -> list[str]:
    value = item.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Malformed(f"{name!r} is not a list of strings")
    return [" ".join(v.split()) for v in value if v.strip()]


def parse(item, config: TaskConfig) -> tuple[str, str, list[str]]:
    question = text_field(item, "question")
    if not isinstance(item.get("answer"), bool):
        raise Malformed(f"answer {item.get('answer')!r} is not true or false")
    plan = _texts(item, "decomposition")
    steps = ([f"Plan: {' '.join(f'({i}) {q}' for i, q in enumerate(plan, 1))}"]
             if plan else []) + _texts(item, "facts")
    return question, "yes" if item["answer"] else "no", steps
