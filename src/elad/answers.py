"""How an explanation is written as text and read back: steps, answer cue, normalization.

Every student output and every teacher target goes through `format_explanation` and
`parse_explanation`, so the student, the teachers and the evaluation agree on one format:
one step per line, then a last line "The answer is X."
"""

from __future__ import annotations

import re

from elad.types import Explanation

ANSWER_CUE = "The answer is"
_ANSWER_LINE = re.compile(r"^\s*The answer is\s*(.*?)\s*\.?\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalize_answer(raw: str | None, answer_type: str) -> str | None:
    """Canonical form of an answer, or None when it cannot be read as `answer_type`."""
    if raw is None:
        return None
    text = raw.strip().lower().rstrip(".")
    if answer_type == "number":
        match = _NUMBER.fullmatch(text.replace(",", "").replace("$", "").strip())
        if not match:
            return None
        value = float(match.group())
        return str(int(value)) if value.is_integer() else str(value)
    if answer_type == "yesno":
        return text if text in ("yes", "no") else None
    if answer_type == "text":
        return text or None
    raise ValueError(f"unknown answer type {answer_type!r}")


def format_explanation(steps: list[str], answer: str) -> str:
    """The text a student learns to write: steps on lines, then the answer cue."""
    return "\n".join([*steps, f"{ANSWER_CUE} {answer}."])


def parse_explanation(text: str, answer_type: str) -> Explanation:
    """Split generated text into steps and a normalized answer (None if none parses)."""
    steps: list[str] = []
    answer: str | None = None
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        match = _ANSWER_LINE.match(line)
        if match:
            answer = normalize_answer(match.group(1), answer_type)
            break
        steps.append(line)
    return Explanation(steps=steps, answer=answer)
