"""Reading an LLM teacher's reply: find its JSON, check it, turn it into a TeacherReply.

A real teacher's reply is text that should hold one JSON object (see the prompts). It is
accepted only if it is usable as a training target: the steps are non-empty strings, the
first wrong step is a number the student's explanation has, and the answer can be read
as the task's answer type. Anything else raises `InvalidReply` with the reason, which the
teacher sends back when it asks again.
"""

from __future__ import annotations

import json
import re
from functools import cache

from elad.answers import ANSWER_CUE, normalize_answer
from elad.teacher.request import ANSWER_FORMS, quoted, template
from elad.types import TeacherReply

# The JSON the prompts ask for, as schemas for servers with structured output.
SCHEMAS = {
    "annotate": {
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"type": "string"}},
                       "answer": {"type": "string"}},
        "required": ["steps", "answer"],
        "additionalProperties": False,
    },
    "revise": {
        "type": "object",
        "properties": {"first_error": {"type": ["integer", "null"]},
                       "continuation": {"type": "array", "items": {"type": "string"}},
                       "answer": {"type": "string"}},
        "required": ["first_error", "continuation", "answer"],
        "additionalProperties": False,
    },
}

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_STEP_NUMBER = re.compile(r"^\s*(?:step\s*)?\d+\s*[.:)]\s*", re.IGNORECASE)


class InvalidReply(ValueError):
    """A reply that cannot be used; the message says why, for the log and the re-ask."""


def extract_json(text: str) -> dict:
    """The JSON object in a reply, also when wrapped in a code fence or in prose."""
    text = _FENCE.sub("", text.strip())
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise InvalidReply("the reply holds no JSON object") from None
        try:
            value = json.loads(text[start:end + 1])
        except json.JSONDecodeError as error:
            raise InvalidReply(f"the reply is not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise InvalidReply("the reply is JSON but not an object")
    return value


def clean_steps(value: object, field: str) -> list[str]:
    """Steps as one line each: numbering like "2." dropped, multi-line steps split, any
    line stating the answer left out (the answer has its own field)."""
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidReply(f'"{field}" must be a list of strings')
    steps = []
    for step in value:
        for line in step.split("\n"):
            line = _STEP_NUMBER.sub("", line).strip()
            if line and not line.startswith(ANSWER_CUE):
                steps.append(line)
    return steps


def read_answer(value: object, answer_type: str, labels: tuple[str, ...] = ()) -> str:
    """The reply's answer, normalized as the task's answers are; for a label task told
    its `labels`, one of them."""
    shown = "true" if value is True else "false" if value is False else repr(value)
    classes = {normalize_answer(x, answer_type) for x in labels}
    if isinstance(value, bool):  # JSON's true or false: yes or no, unless the labels
        # (or a text answer) say true or false
        value = shown if answer_type == "text" or shown in classes else \
            ("yes" if value else "no")
    elif isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidReply('"answer" must be a string')
    answer = normalize_answer(value, answer_type)
    if answer is None:
        form = f" (it should be {ANSWER_FORMS[answer_type]})" \
            if answer_type in ANSWER_FORMS else ""
        raise InvalidReply(f'"answer" {shown} is not a valid {answer_type} answer{form}')
    if labels and answer not in classes:
        raise InvalidReply(f'"answer" {shown} is not one of the labels '
                           f"({quoted(labels)})")
    return answer


@cache
def prompt_example() -> list[str]:
    """The steps of the example reply in the annotate prompt."""
    _, body = template("annotate")
    return json.loads(re.search(r"\{\"steps\".*\}", body)[0])["steps"]


def read_annotation(text: str, answer_type: str,
                    labels: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """(steps, answer) of an annotate reply; the prompt's own example copied back (a
    weak model does that) is not an annotation of the question."""
    data = extract_json(text)
    steps = clean_steps(data.get("steps"), "steps")
    if not steps:
        raise InvalidReply('"steps" is empty')
    if steps == prompt_example():
        raise InvalidReply('"steps" are the example\'s from the prompt, not steps '
                           "that solve this question")
    return steps, read_answer(data.get("answer"), answer_type, labels)


def read_revision(text: str, n_steps: int, student_answer: str | None,
                  answer_type: str, labels: tuple[str, ...] = ()
                  ) -> tuple[int | None, list[str], str]:
    """(first_error, continuation, answer) of a revise reply to a student explanation of
    `n_steps` steps plus its answer line (numbered n_steps + 1)."""
    data = extract_json(text)
    if "first_error" not in data:
        raise InvalidReply('"first_error" is missing')
    first_error = data["first_error"]
    if first_error is None:
        if student_answer is None:
            raise InvalidReply('"first_error" is null, but the student gave no answer')
        try:
            return None, [], read_answer(student_answer, answer_type, labels)
        except InvalidReply as why:
            raise InvalidReply(f'"first_error" is null, but the student\'s {why}') from None
    if isinstance(first_error, bool) or not isinstance(first_error, int):
        raise InvalidReply('"first_error" must be a step number or null')
    if not 1 <= first_error <= n_steps + 1:
        raise InvalidReply(f'"first_error" {first_error} is not a step number '
                           f"(1 to {n_steps + 1})")
    continuation = clean_steps(data.get("continuation", []), "continuation")
    if not continuation and first_error == 1 and n_steps:  # nothing of it would be left
        raise InvalidReply('"continuation" is empty, but the first step is wrong')
    # empty after a later wrong step: the steps before it reach the answer (the student
    # went on past the solution; the oracle teachers reply so, and were refused)
    return first_error, continuation, read_answer(data.get("answer"), answer_type, labels)


def reply_from_text(op: str, text: str, answer_type: str, n_steps: int = 0,
                    student_answer: str | None = None,
                    labels: tuple[str, ...] = ()) -> TeacherReply:
    """A usable TeacherReply from reply text (token counts left at 0 for the caller)."""
    if op == "annotate":
        steps, answer = read_annotation(text, answer_type, labels)
        return TeacherReply(op, None, steps, answer, 0, 0)
    first_error, continuation, answer = read_revision(text, n_steps, student_answer,
                                                      answer_type, labels)
    return TeacherReply(op, first_error, continuation, answer, 0, 0)
