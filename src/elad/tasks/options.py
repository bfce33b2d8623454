"""A multiple-choice line's options kept apart from its question (`task.options_field`,
AQuA's layout): the forms they come in, the question as the teacher and the student see
it, and which option an answer names.

Options come as a list of texts, lettered or not (AQuA's "A)32400"), a list of objects
with a "text" (and a "label"), or an object of "text" and "label" lists (ARC's, as the
Hugging Face hub has it). A label is the option's letter or its place counted from 1
("1" for A). An answer names an option by its label as the file writes it, as a JSON
whole number: its place counted from 0 (MMLU's), by its text, or by its letter.
"""

from __future__ import annotations

import re
from typing import Any

from elad.answers import normalize_answer
from elad.tasks.files import Malformed

LETTERS = "ABCDE"
_LETTERED = re.compile(r"^\s*\(?([A-Ea-e])\s*\)\s*(.*)$", re.DOTALL)  # "A)32400", "(b) 7"


def is_options(value: Any) -> bool:
    """Whether `value` has one of the forms options come in (what `elad init` looks for
    on a file's first line)."""
    texts = value.get("text") if isinstance(value, dict) else value
    return isinstance(texts, list) and 2 <= len(texts) <= len(LETTERS)


def option_texts(options: Any, field: str) -> list[tuple[str | None, str]]:
    """(label as written or None, text) of each option, in order, from any of the
    forms; Malformed for anything else, or for a list that is not 2 to 5 long."""
    if options is None:
        raise Malformed(f"no {field!r} list")
    if isinstance(options, dict) and isinstance(options.get("text"), list):
        labels = options.get("label") or [None] * len(options["text"])
        if not isinstance(labels, list) or len(labels) != len(options["text"]):
            raise Malformed(f"{field!r} has {len(options['text'])} texts but labels "
                            f"{labels!r}")
        options = [{"label": label, "text": text}
                   for label, text in zip(labels, options["text"])]
    if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
        raise Malformed(f"{field!r} is not a list of two to five options: {options!r}")
    pairs = []
    for option in options:
        label, text = (option.get("label"), option.get("text")) \
            if isinstance(option, dict) else (None, option)
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        lettered = isinstance(text, str) and label is None and _LETTERED.match(text)
        if lettered:
            label, text = lettered[1], lettered[2]
        if not isinstance(text, str) or not text.strip():
            raise Malformed(f"option {option!r} in {field!r} has no text")
        pairs.append((None if label is None else str(label).strip(), text.strip()))
    for place, (label, _) in enumerate(pairs):
        if label is not None and label.upper() not in (LETTERS[place], str(place + 1)):
            raise Malformed(f"option {options[place]!r} is labeled {label}, not "
                            f"{LETTERS[place]} (or {place + 1}), its place in {field!r}")
    return pairs


def with_options(question: str, options: list[tuple[str | None, str]]) -> str:
    """A multiple-choice question as the teacher and the student see it, its options
    after it ("...\nAnswer choices: (A) 32400 (B) 28000")."""
    choices = " ".join(f"({letter}) {text}" for letter, (_, text) in zip(LETTERS, options))
    return f"{question}\nAnswer choices: {choices}"


def answer_letter(raw: Any, options: list[tuple[str | None, str]], field: str) -> str:
    """The letter of the option an answer names: an option's label as written (first:
    with labels 1 to 4, the answer 1 is the first option); else a JSON whole number is
    its place counted from 0; a text is an option's text (case folded), or a letter
    ("C", "(b)"). Malformed when it names none of `options`, or two."""
    if isinstance(raw, float) and raw.is_integer():  # 2.0: a number column with gaps
        raw = int(raw)
    text = str(raw).strip()
    labeled = [place for place, (label, _) in enumerate(options) if label == text]
    if labeled:
        return LETTERS[labeled[0]]
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 0 <= raw < len(options):
            raise Malformed(f"answer {raw} names no option (a whole number is the "
                            f"option's place counted from 0; {field!r} has {len(options)})")
        return LETTERS[raw]
    written = [place for place, (_, option) in enumerate(options)
               if option.casefold() == text.casefold()]
    if len(written) > 1:
        raise Malformed(f"answer {raw!r} is the text of {len(written)} options of "
                        f"{field!r}: give its letter")
    letter = LETTERS[written[0]] if written else normalize_answer(text, "choice")
    if letter is None or LETTERS.index(letter) >= len(options):
        raise Malformed(f"answer {raw!r} names no option ({field!r} has {len(options)}: "
                        f"give its letter, A to {LETTERS[len(options) - 1]})")
    return letter


def lettered_options(question: str, item: dict, raw: Any, field: str
                     ) -> tuple[str, str | None]:
    """(the question with the options `item[field]` after it, the letter of the answer
    `raw`; None for an unlabeled line, whose `raw` is None)."""
    options = option_texts(item.get(field), field)
    return (with_options(question, options),
            None if raw is None else answer_letter(raw, options, field))
