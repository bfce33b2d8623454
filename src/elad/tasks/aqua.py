"""AQuA-RAT (google-deepmind/AQuA): algebra word problems with five answer choices.

JSON lines with `question`, `options` (["A)32400", ...]), `rationale` and `correct`
("A"). The question shown to the student lists the choices; the answer is the letter;
the rationale's lines are the steps, less a last line that only names the answer.
"""

from __future__ import annotations

import re

from elad.config import TaskConfig
from elad.tasks.files import text_field
from elad.tasks.options import option_texts, with_options

SPLITS = {"train": "train.json", "dev": "dev.json", "test": "test.json"}
ANSWER_TYPE = "choice"
OPTIONS_FIELD = "options"  # kept apart from the question, which elad writes them after
DEFAULT_SPLITS = ("dev", "test")  # the shared copy has no train split (97k items)
_ANSWER_ONLY = re.compile(
    r"\s*(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice|ans)\b[\s:.\-=]*"
    r"(?:is\s*)?(?:option\s*)?)?\(?[A-E]\)?[\s.]*$", re.IGNORECASE)


def rationale_steps(rationale: str) -> list[str]:
    lines = [line.strip() for line in rationale.splitlines() if line.strip()]
    if lines and _ANSWER_ONLY.fullmatch(lines[-1]):
        lines.pop()
    return lines


def parse(item, config: TaskConfig) -> tuple[str, str, list[str]]:
    rationale = item.get("rationale") if isinstance(item, dict) else None
    steps = rationale_steps(rationale) if isinstance(rationale, str) else []
    options = option_texts(item.get(OPTIONS_FIELD), OPTIONS_FIELD)
    return (with_options(text_field(item, "question"), options),
            text_field(item, "correct"), steps)
