"""How an explanation is written as text and read back: steps, answer cue, normalization.

Every student output and every teacher target goes through `format_explanation` and
`parse_explanation`, so the student, the teachers and the evaluation agree on one format:
one step per line, then a last line "The answer is X." A plain student's prompt is
`prompt_text`: "Q: <question>\nA:\n".
"""

from __future__ import annotations

import re

from elad.types import Explanation

ANSWER_CUE = "The answer is"
ANSWER_TYPES = ("number", "choice", "yesno", "label", "text")
_ANSWER_LINE = re.compile(r"^\s*The answer is\s*(.*?)\s*\.?\s*$")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+(?:\.\d+)?)?")
_CHOICE = re.compile(r"(?:(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)\s*(?:is)?\s*[:-]?\s*)?"
                     r"\(?([A-Ea-e])(\)|(?=[\s.:,]|$))", re.IGNORECASE)


def _number(text: str) -> str | None:
    """The one number in `text` ("#### 1,200", "$18.00", "18 apples", "3/4", "-5"),
    canonical: no trailing zeros, at most 6 decimals. None if there is none or several."""
    text = text.rsplit("####", 1)[-1].replace("$", "").replace("−", "-")
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,234,567
    found = _NUMBER.findall(text)
    if len(found) != 1:
        return None
    top, _, bottom = found[0].partition("/")
    if bottom and float(bottom) == 0:
        return None
    value = round(float(top) / (float(bottom) if bottom else 1.0), 6) + 0.0  # no -0.0
    return str(int(value)) if value.is_integer() else str(value)


def _choice(text: str) -> str | None:
    """A choice letter A-E: "C", "(b)", "C) 600", "option D". A lower-case letter counts
    alone or before ")" only (so "a dog" is not A)."""
    match = _CHOICE.match(text.strip())
    if not match:
        return None
    letter, paren = match.groups()
    if letter.islower() and not paren and match.end() < len(text.strip()):
        return None
    return letter.upper()


YESNO = {"true": "yes", "false": "no", "y": "yes", "n": "no"}  # the other spellings


def normalize_answer(raw: str | None, answer_type: str) -> str | None:
    """Canonical form of an answer, or None when it cannot be read as `answer_type`:
    number, choice (A-E), yesno (also true/false, y/n alone), label (a class name) or
    text."""
    if raw is None:
        return None
    if answer_type == "number":
        return _number(raw)
    if answer_type == "choice":
        return _choice(raw)
    text = raw.strip().lower().rstrip(".")
    if answer_type == "yesno":
        word = re.match(r"(yes|no|true|false)\b", text) or re.fullmatch(r"([yn])", text)
        return None if not word else YESNO.get(word[1], word[1])
    if answer_type == "label":
        return " ".join(text.strip("\"'`*").split()) or None
    if answer_type == "text":
        return text or None
    raise ValueError(f"unknown answer type {answer_type!r}")


def prompt_text(question: str) -> str:
    """A plain student's prompt for a question (after the model's bos token, if any);
    the explanation follows it directly."""
    return f"Q: {question}\nA:\n"


# `prompt_text` as a chat template (Jinja, as transformers renders it), for the tokenizer
# of an exported plain student: a user message becomes the prompt after the bos token,
# an assistant message the explanation and the end token. So `apply_chat_template` and
# `pipeline("text-generation")` on [{"role": "user", "content": question}] give exactly
# the text the student was trained and evaluated on. The explanation and its end token
# sit inside `{% generation %}` markers: transformers' `return_assistant_tokens_mask`
# marks exactly those tokens, so TRL's `assistant_only_loss=True` trains on the
# `messages` export (`elad export-data`) with the loss on the explanation alone, as elad
# trained the student.
PLAIN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{- (bos_token if loop.first and bos_token else '') + 'Q: ' + message['content']"
    " + '\\nA:\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] + (eos_token or '') -}}{%- endgeneration -%}"
    "{%- else -%}"
    "{{- raise_exception('this student was trained on user questions and its own "
    "answers only, not ' + message['role'] + ' messages') -}}"
    "{%- endif -%}"
    "{%- endfor -%}")


def format_explanation(steps: list[str], answer: str) -> str:
    """The text a student learns to write: steps on lines, then the answer cue."""
    return "\n".join([*steps, f"{ANSWER_CUE} {answer}."])


def parse_explanation(text: str, answer_type: str,
                      line_confidence: tuple[float, ...] = ()) -> Explanation:
    """Split generated text into steps and a normalized answer (None if none parses).
    `line_confidence`, one value per line of `text`, is kept for the lines that became
    steps and for the answer line (Explanation.token_confidence)."""
    steps: list[str] = []
    answer: str | None = None
    kept: list[float] = []
    for number, line in enumerate(text.split("\n")):
        line = line.strip()
        if not line:
            continue
        if number < len(line_confidence):
            kept.append(line_confidence[number])
        match = _ANSWER_LINE.match(line)
        if match:
            answer = normalize_answer(match.group(1), answer_type)
            break
        steps.append(line)
    return Explanation(steps=steps, answer=answer, token_confidence=kept)
