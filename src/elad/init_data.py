"""`elad init`'s reading of the user's data file: its questions and answers (the first
bad line as a one-line error), where a choice line keeps its options, and the answer type
and classes the answers show.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from elad.answers import YESNO, normalize_answer
from elad.config import ConfigError
from elad.tasks.files import Malformed, json_items
from elad.tasks.options import answer_letter, is_options, option_texts

MAX_LABELS = 20  # more distinct answers than this are guessed to be text, not classes
OPTION_FIELDS = ("options", "choices")  # a list of options apart from the question


@dataclass
class DataFile:
    """A JSON-lines file of questions, as read by `read_questions`."""

    path: Path
    questions: list[str]
    answers: list[str]  # the answers given (some lines may have none)
    answer_lines: list[int]  # the line of each answer
    options_field: str = ""  # a field of its first line that holds a list of options
    skipped: list[str] = field(default_factory=list)  # why each line was skipped
    unlettered: list[str] = field(default_factory=list)  # "file:line: why" of each
    # answer that names none of its line's options (`check_choices`)


def read_questions(path: Path, question_field: str, answer_field: str,
                   labeled: bool = False, choice: bool = True, skip: bool = False
                   ) -> DataFile:
    """The questions (and answers) of a JSON-lines file; a ConfigError naming the first
    line that is not a JSON object with a question (with `labeled`, and an answer), or,
    with `skip`, those lines left out and listed. With `choice`, where the first line
    has its options apart, an answer that names one of a line's options is read as the
    option's letter, as a choice task reads it."""
    data = DataFile(path, [], [], [])
    try:
        for number, item in json_items(path):  # the task loader's reader: same lines
            try:
                read_line(data, number, item, (question_field, answer_field),
                          labeled, choice)
            except ConfigError as error:
                if not skip:
                    raise ConfigError(f"{error}; --skip-malformed skips such lines") \
                        from None
                data.skipped.append(str(error))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such data file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a JSON-lines file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    if not data.questions:
        raise ConfigError(f"{path}: no question in it" + (
            f" that can be read ({len(data.skipped)} lines skipped)" if data.skipped
            else " (it is empty)"))
    return data


def read_line(data: DataFile, number: int, item: object, fields: tuple[str, str],
              labeled: bool, choice: bool) -> None:
    """Add the question (and answer) of line `number` to `data`; a ConfigError naming
    the line when it cannot be read."""
    question_field, answer_field = fields
    where = f"{data.path}:{number}"
    if isinstance(item, Malformed):
        raise ConfigError(f"{where}: {item}; the data file has one JSON object a line")
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: not a JSON object but {type(item).__name__}")
    question = _text(item.get(question_field))
    if question is None and question_field in item:
        raise ConfigError(f"{where}: the {question_field!r} field holds no text: "
                          f"{item[question_field]!r}")
    if question is None:
        raise ConfigError(f"{where}: no {question_field!r} text (fields here: "
                          f"{', '.join(sorted(item)) or 'none'}; --question-field names "
                          "another)")
    answer = _text(item.get(answer_field))
    if answer is None and labeled:
        raise ConfigError(f"{where}: no {answer_field!r}: a test file needs an answer on "
                          "every line (--answer-field names another)")
    if not data.questions:  # AQuA's form: the options apart (task.options_field)
        data.options_field = next((name for name in OPTION_FIELDS
                                   if is_options(item.get(name))), "")
    if answer is not None and data.options_field and choice:
        try:  # the letter of the option it names, as a choice task reads it
            answer = answer_letter(item[answer_field], option_texts(
                item.get(data.options_field), data.options_field), data.options_field)
        except Malformed as why:
            data.unlettered.append(f"{where}: {why}")
    data.questions.append(question)
    if answer is not None:
        data.answers.append(answer)
        data.answer_lines.append(number)


def _text(value: object) -> str | None:
    """A field's text: a non-empty string, a number, or a boolean (yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def guess_answer_type(answers: list[str]) -> str:
    """number when elad reads every answer as one number (as it will compare them:
    "1,200", "$18.00", GSM8K's rationale ending "#### 72"), choice when every one is a
    letter A-E ("C", "(b)": AQuA's), yesno when every one is yes or no (true, Y, ...),
    label when they are a few short class names, each given three times or more on
    average (a classification's), else text."""
    if answers and all(normalize_answer(a, "number") is not None for a in answers):
        return "number"
    if answers and all(re.fullmatch(r"\(?[A-Ea-e]\)?", a) for a in answers):
        return "choice"
    if answers and all(a.strip().lower().rstrip(".") in {"yes", "no", *YESNO}
                       for a in answers):  # whole words: "No one knows" is text
        return "yesno"
    classes = labels_of(answers)
    if 2 <= len(classes) <= MAX_LABELS and 3 * len(classes) <= len(answers) \
            and all(len(c.split()) <= 4 for c in classes):
        return "label"
    return "text"


def labels_of(answers: list[str]) -> list[str]:
    """The distinct classes among `answers` (as a label task compares them: case and
    spacing folded), each as it is most often written."""
    spellings: dict[str, Counter] = {}
    for answer in answers:
        if label := normalize_answer(answer, "label"):
            spellings.setdefault(label, Counter())[" ".join(answer.split())] += 1
    return sorted(written.most_common(1)[0][0] for written in spellings.values())


def check_choices(data: DataFile) -> None:
    """A ConfigError naming the first answer of a file with its options apart that names
    none of its line's options, when its other answers name one: guessed from the
    answers, the task would be a label or text one, and every question would lose its
    options, the teacher's prompt too. (When none does, the list is not their options.)"""
    if data.unlettered and len(data.unlettered) < len(data.answers):
        raise ConfigError(f"{data.unlettered[0]}; the file has its options apart "
                          f"({data.options_field!r}) and its other answers name one of "
                          "them. Fix the line (its answer or its options) or remove it, or "
                          "give --answer-type to read the answers as another type, without "
                          "the options")


def check_answer_type(answer_type: str, data: DataFile, guessed: bool = False) -> None:
    """A ConfigError naming the first answer of `data` that is not of `answer_type`, the
    --answer-type given or the one guessed from the other file's answers (the run would
    refuse its line), with init's own ways out."""
    how = "guessed from the test file's answers" if guessed else \
        f"--answer-type {answer_type}"
    for answer, line in zip(data.answers, data.answer_lines):
        if normalize_answer(answer, answer_type) is None:
            raise ConfigError(f"{data.path}:{line}: answer {answer!r} is not a "
                              f"{answer_type} ({how}); fix or remove the line, or give "
                              "--answer-type text to compare answers as written")
