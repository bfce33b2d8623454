"""What a setting may be, checked before a run starts: the choices and ranges each config
field carries in its metadata (config.setting), then how settings fit together.

Kept apart from config.py, which defines the settings, so that each stays short; it
imports nothing of elad's but answers.py (which imports no config), so config.py imports
it (and re-exports ConfigError).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from elad.answers import normalize_answer

TRACKERS = ("trackio", "tensorboard", "wandb", "mlflow")  # what report_to can name
INT64 = 2 ** 63  # an int setting must fit in 64 bits (torch, numpy and SQLite need it)


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Range:
    """Where a numeric setting must lie; it must be finite too (no inf, no nan)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # `low` itself is not allowed
    high_open: bool = False
    also: float | None = None  # one more value allowed (the prices' -1: from the table)

    def problem(self, value: float) -> str | None:
        """What is wrong with `value` here, or None."""
        if value == self.also:
            return None
        if not math.isfinite(value):
            return "must be a finite number"
        if isinstance(value, int) and not -INT64 <= value < INT64:
            return "is too large (it must fit in 64 bits)"
        if ((self.low < value if self.low_open else self.low <= value)
                and (value < self.high if self.high_open else value <= self.high)):
            return None
        return str(self)

    def __str__(self) -> str:
        if self.low == -math.inf and self.high == math.inf:  # the seed: any whole number
            return "must fit in 64 bits"
        if self.high == math.inf:
            text = f"must be {'>' if self.low_open else '>='} {self.low}"
        else:
            text = (f"must be in {'(' if self.low_open else '['}{self.low}, "
                    f"{self.high}{')' if self.high_open else ']'}")
        return text + (f" or {self.also}" if self.also is not None else "")


def settings(config: Any, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, value) of every setting of `config`, sections' keys dotted."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            yield from settings(value, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", field, value


def field_problem(key: str, field: dataclasses.Field, value: Any) -> str | None:
    """The one-line error for `value` against its field's choices and range, or None."""
    choices = field.metadata.get("choices")
    if choices:
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if v not in choices]
        if bad:
            shown = ", ".join(repr(c) if c == "" else c for c in choices)
            item = f" ({bad[0]!r})" if isinstance(value, list) else ""
            return f"{key}={value!r}{item} is not one of {shown}"
    allowed = field.metadata.get("range")
    if allowed is not None and (problem := allowed.problem(value)):
        return f"{key}={value!r} {problem}"
    return None


def can_warm(student: Any, task: Any) -> bool:
    """Whether the warm curriculum can start this student: it is the synthetic tasks'
    chains, for the tiny student."""
    return student.kind == "tiny" and task.kind == "synthetic"


def resolved_warmup(student: Any, task: Any) -> str:
    """student.warmup=auto: the warm curriculum where it can start the student (the
    offline default), else none."""
    if student.warmup != "auto":
        return student.warmup
    return "curriculum" if can_warm(student, task) else "none"


# the tiny student's own sizes: a pretrained model (student.kind=hf) has its own
TINY_ONLY = ("vocab_size", "hidden_size", "layers", "heads", "max_length")


def tiny_only(student: Any, base: Any) -> list[tuple[str, bool, str]]:
    """The checks that a pretrained student is given none of TINY_ONLY (they did
    nothing): each at its declared default, or as the stored run `base` has it."""
    fresh, why = type(student)(), ("is the tiny student's (student.kind=tiny); a "
                                    "pretrained model has its own: leave it out")
    return [(f"student.{name}", student.kind != "hf" or getattr(student, name) in (
                getattr(fresh, name), getattr(base.student, name) if base else None), why)
            for name in TINY_ONLY]


def is_local(model: str) -> bool:
    """Whether a pretrained student's `model` names a folder (else the hub, or a preset)."""
    return model.startswith((".", "/", "~"))


def missing_folder(student: Any, stored: str | None = None) -> str | None:
    """Why a pretrained student's local folder cannot be read ("=PATH: no such folder",
    with how to give a run's moved one its new path: `stored`, the run's), or None (it
    is there, or the model is named on the hub)."""
    folder = Path(student.model).expanduser()
    if student.kind != "hf" or not is_local(student.model) or folder.is_dir():
        return None
    return (f"={student.model}: {'not a folder' if folder.exists() else 'no such folder'}"
            + read_from(student.model, stored, "student.model"))


def read_from(path: str, stored: str | None = None, key: str = "") -> str:
    """Where a relative path was looked for, for a message (a run directory made before
    its paths were stored absolute is resumed from the directory it was started in); or,
    for a run's own data file or model folder (`key`, `stored`: the path the run holds)
    gone from its place, how to give its new one."""
    if not Path(path).expanduser().is_absolute():
        return f" (read from {Path.cwd()})"
    if path == stored:
        what = ("folder", "the same model files") if key == "student.model" else (
            "file", "the same questions and answers")
        return (f" (where this run's {what[0]} was; if it moved, give its new path, "
                f"{key}=NEW: the run goes on if the {what[0]} holds {what[1]})")
    return ""


def repeated(labels: list[str], classes: list[str | None]) -> list[str]:
    """Each label whose class an earlier label already names, with that label."""
    return [f"{labels[classes.index(c)]!r} and {label!r}"
            for i, (label, c) in enumerate(zip(labels, classes)) if c in classes[:i]]


def only_for(key: str, verb: str, given: bool, wanted: str, answer_type: str
             ) -> tuple[str, bool, str]:
    """The check of a task setting that only one answer type reads."""
    return (key, not given or answer_type == wanted,
            (f"{verb} for task.answer_type = \"{wanted}\" (it is "
             f"{answer_type or 'text'!r}): set it so, or remove {key}"))


def validate(config: Any, base: Any = None) -> Any:
    """Check every field's choices and range, then how settings fit together; raise
    ConfigError naming the first bad key. What `base` (a run's stored config) already
    held passes the checks added after runs were stored with it: the run resumes."""
    for key, field, value in settings(config):
        if problem := field_problem(key, field, value):
            raise ConfigError(problem)
    task, student, teacher = config.task, config.student, config.teacher
    student.warmup = resolved_warmup(student, task)  # stored so: a resume keeps it
    teacher.base_url = teacher.base_url.rstrip("/")  # ".../v1/" is ".../v1" (the cache's)
    classes = [normalize_answer(x, "label") for x in task.labels]
    checks = [
        ("candidates", config.candidates >= config.round_size, "must be >= round_size"),
        ("task.pool_size", not task.pool_size or task.pool_size >= config.seed_size,
         "must be >= seed_size (or 0: all)"),
        ("task.test_path", not task.test_path or task.kind != "synthetic",
         "is for a file task (the synthetic task makes its own test questions)"),
        ("task.test_path", not task.test_path or Path(task.test_path).expanduser().is_file(),
         f"={task.test_path!r}: no such file"
         + read_from(task.test_path, base and base.task.test_path, "task.test_path")),
        ("task.test_from_teacher", not (task.test_from_teacher and task.test_path),
         "and task.test_path both give the test set; set one"),
        ("task.test_from_teacher", not (task.test_from_teacher and task.pool_size)
         or task.pool_size - task.test_from_teacher >= max(1, config.seed_size),
         (f"={task.test_from_teacher} leaves fewer than seed_size={config.seed_size} of "
          f"the task.pool_size={task.pool_size} questions in the pool")),
        only_for("task.labels", "are", bool(task.labels), "label", task.answer_type),
        ("task.labels", all(classes), "names an empty label"),
        ("task.labels", len(set(classes)) == len(classes)
         or (base is not None and base.task.labels == task.labels),
         (f"names a class twice ({'; '.join(repeated(task.labels, classes))}): "
          "classes are compared as answers are, case, spacing, quotes and a final period "
          "aside")),
        only_for("task.options_field", "is", bool(task.options_field), "choice",
                 task.answer_type),
        ("task.labels", len(task.labels) != 1,
         (f"names one class ({task.labels[0] if task.labels else ''}): a label task has "
          "two or more; list them all")),
        ("task.families", task.kind != "synthetic" or bool(task.families),
         "names no family; the synthetic task needs at least one"),
        ("student.hidden_size", student.kind != "tiny"
         or student.hidden_size % student.heads == 0,
         "must be a multiple of student.heads"),
        *tiny_only(student, base),
        ("student.lora_targets", student.kind != "hf" or student.finetune != "lora"
         or bool(student.lora_targets),
         "names no module: name the model's linear layers, or all-linear"),
        ("teacher.kind", teacher.kind != "oracle" or task.kind == "synthetic",
         "oracle knows only the synthetic task; use teacher.kind=reference for a dataset"),
        ("teacher.kind", teacher.kind != "reference" or task.kind != "synthetic",
         "reference replays dataset rationales; the synthetic task has none (use oracle)"),
        ("teacher.model", teacher.kind != "openai" or bool(teacher.model.strip()),
         "is empty; teacher.kind=openai needs the model to ask"),
        ("teacher.base_url", teacher.kind != "openai"
         or teacher.base_url.startswith(("http://", "https://")),
         f"={teacher.base_url!r} is not an http:// or https:// URL"),
        ("student.model", student.kind != "hf" or bool(student.model),
         "is needed for student.kind=hf (a hub name, a local path or gemma-3-270m)"),
        ("student.model", not (missing := missing_folder(student, base and
                                                         base.student.model)), missing),
        ("task.path", task.kind != "jsonl" or bool(task.path or task.hub),
         "is needed for task.kind=jsonl (or task.hub)"),
        ("task.path", task.kind == "synthetic" or not task.path
         or Path(task.path).expanduser().exists(),
         f"={task.path!r}: no such file or folder"
         + read_from(task.path, base and base.task.path, "task.path")),
        ("student.warmup", student.warmup == "none" or can_warm(student, task),
         ("must be none unless student.kind=tiny and task.kind=synthetic (the curriculum "
          "is the synthetic tasks' chains)")),
        ("teacher.batch", not teacher.batch or teacher.kind == "openai",
         "needs teacher.kind=openai (OpenAI's Batch API)"),
        ("report_to", not (unknown := set(config.report_to) - set(TRACKERS)),
         f"names {', '.join(sorted(unknown))}; known: {', '.join(TRACKERS)}"),
        ("report_to", not (missing := [n for n in config.report_to if find_spec(n) is None]),
         f"names {', '.join(missing)}, not installed (pip install {' '.join(missing)})"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(f"{key}{'' if message.startswith('=') else ' '}{message}")
    return config
