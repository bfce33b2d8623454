"""SVAMP (arkilpatel/SVAMP): one-step and two-step arithmetic word problems.

One JSON array of items with `Body`, `Question`, `Equation` ("( 76.0 - 25.0 )") and
`Answer` (51.0). The question is the body and the question; the rationale is the
equation written as one step, "76 - 25 = 51". There is one split ("all"): pool and test
are disjoint parts of it.
"""

from __future__ import annotations

import re

from elad.answers import normalize_answer
from elad.config import TaskConfig
from elad.tasks.files import Malformed, text_field

SPLITS = {"all": "SVAMP.json"}
ANSWER_TYPE = "number"
DEFAULT_SPLITS = ("all", "all")





def equation_step(equation: str, answer: str) -> str:
    """"( ( 4.0 + 13.0 ) * 15.0 )" and "255" -> "(4 + 13) * 15 = 255"."""
    text = re.sub(r"(\d+)\.0\b", r"\1", equation)
    text = " ".join(text.replace("(", " ( ").replace(")", " ) ").split())
    text = text.replace("( ", "(").replace(" )", ")")
    if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
        text = text[1:-1]
    elif text.startswith("(") and text.endswith(")"):
        depth = 0  # drop the outer pair only when it encloses everything
        for i, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and i < len(text) - 1:
                break
        else:
            text = text[1:-1]
    return f"{text} = {answer}"


def parse(item, config: TaskConfig) -> tuple[str, str, list[str]]:
    body, question = text_field(item, "Body"), text_field(item, "Question")
    raw = text_field(item, "Answer")
    answer = normalize_answer(raw, "number")
    if answer is None:
        raise Malformed(f"Answer {raw!r} is not a number")
    if body[-1] not in ".?!,":
        body += ","
    return f"{body} {question}", raw, [equation_step(text_field(item, "Equation"), answer)]
