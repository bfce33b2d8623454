"""GSM8K (openai/grade-school-math): grade-school word problems with number answers.

Each JSON line has `question` and `answer`: the human rationale, one step per line with
calculator marks (`48/2 = <<48/2=24>>24`), and a last line `#### 24`. The steps keep
their marks; the reference teacher checks them.
"""

from __future__ import annotations

from elad.config import TaskConfig
from elad.tasks.files import Malformed, text_field

SPLITS = {"train": "train.jsonl", "test": "test.jsonl"}
ANSWER_TYPE = "number"
DEFAULT_SPLITS = ("train", "test")





def parse(item, config: TaskConfig) -> tuple[str, str, list[str]]:
    question, answer = text_field(item, "question"), text_field(item, "answer")
    body, mark, final = answer.rpartition("####")
    if not mark:
        raise Malformed("answer has no final '#### <number>' line")
    return question, final.strip(), [s.strip() for s in body.splitlines() if s.strip()]
