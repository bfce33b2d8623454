"""User data: a JSON-lines file (or a folder of `<split>.jsonl` files) of questions.

The field names are settings (`task.question_field`, `task.answer_field`, and
`task.rationale_field` for a rationale, a string with one step per line or a list of
steps), and so is the answer type (`task.answer_type`: number, choice, yesno, label or
text; a choice question's options may be in its text, or apart in the field that
`task.options_field` names: tasks/options.py). Only the question is needed: a line
without an answer is an unlabeled pool question. A single file has one split: the test
set is drawn from its lines that have an answer (or comes from `task.test_path`, or the
teacher annotates one: testset.py), the pool is the rest.
"""

from __future__ import annotations

from elad.config import TaskConfig
from elad.tasks.files import Malformed, text_field
from elad.tasks.options import lettered_options

SPLITS = None  # any <split>.jsonl in the folder
ANSWER_TYPE = None  # task.answer_type, "text" if not set
DEFAULT_SPLITS = ("train", "test")


def parse(item, config: TaskConfig) -> tuple[str, str | None, list[str]]:
    """The question, its answer (None: an unlabeled line, fine in the pool) and its
    rationale's steps."""
    question = text_field(item, config.question_field)
    raw = item.get(config.answer_field)
    if isinstance(raw, bool):
        raw = "yes" if raw else "no"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raw = None  # an unlabeled line
    field = config.options_field
    if field and config.answer_type == "choice":  # the options apart: AQuA's form
        question, answer = lettered_options(question, item, raw, field)
    else:
        answer = None if raw is None else text_field({config.answer_field: raw},
                                                     config.answer_field)
    steps: list[str] = []
    if config.rationale_field:
        rationale = item.get(config.rationale_field)
        if isinstance(rationale, str):
            steps = [s.strip() for s in rationale.splitlines() if s.strip()]
        elif isinstance(rationale, list) and all(isinstance(s, str) for s in rationale):
            steps = [s.strip() for s in rationale if s.strip()]
        elif rationale is not None:
            raise Malformed(f"{config.rationale_field!r} is neither text nor a list of "
                            "texts")
    return question, answer, steps
