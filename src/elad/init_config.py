"""`elad init`: a commented run config for the user's own questions.

    elad init run.toml --data questions.jsonl --teacher-model gpt-4o-mini --student Qwen/Qwen2.5-0.5B-Instruct

It checks the data file itself (JSON lines, a question on every line; how many carry an
answer; the first bad line as a one-line error), writes a config for this file, this
teacher and this student (the student kind's profile values shown, profiles.py), each key
under its help as `elad config --init` writes it (config_help.to_toml), and returns the
offline cost estimate (estimate.py) and the next commands. An existing file is never
overwritten, and nothing is written unless all of it is valid.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from elad.answers import normalize_answer
from elad.budget import teacher_prices
from elad.config import (
    FILE_KEYS,
    ConfigError,
    RunConfig,
    TaskConfig,
    TeacherConfig,
    config_from_dict,
    is_working_directory,
    load_config,
)
from elad.config_help import to_toml
from elad.estimate import cannot_start, estimate_run, format_estimate
from elad.init_data import (
    DataFile,
    check_answer_type,
    check_choices,
    guess_answer_type,
    labels_of,
    read_questions,
)
from elad.profiles import profile
from elad.tasks.files import DEFAULT_TEST

DEFAULT_BUDGET_USD = 5.0
TEACHER_TEST_SIZE = 100  # questions the teacher annotates as the test set, without --test
TEACHER_OUTPUT_TOKENS = 512  # room for a step-by-step reply from a real LLM
TINY_NEW_TOKENS = 256  # the tiny student's room to write a real LLM's explanation (its
# default, 96, fits the synthetic tasks' explanations; GSM8K's run to about 500)
SHOWN = {"strategy", "mode", "seed_size", "round_size", "candidates", "max_rounds",
         "budget_usd", "task.kind", "task.path", "task.question_field",
         "task.answer_field", "task.answer_type", "task.pool_size", "task.test_size",
         "task.test_path", "task.test_from_teacher", "student.kind", "student.model",
         "student.chat_template", "student.finetune", "student.lora_rank",
         "teacher.kind", "teacher.model", "teacher.base_url", "teacher.api_key_env",
         "teacher.max_output_tokens", "teacher.price_input_per_mtok",
         "teacher.price_output_per_mtok"}
PRETRAINED_ONLY = {"student.model", "student.chat_template", "student.finetune",
                   "student.lora_rank"}  # a tiny student has no use for them


@dataclass(frozen=True)
class InitOptions:
    """What `elad init` was given (None: not given)."""

    out: Path
    data: Path
    test: Path | None = None
    question_field: str = TaskConfig.question_field
    answer_field: str = TaskConfig.answer_field
    answer_type: str | None = None
    teacher_model: str | None = None
    base_url: str = TeacherConfig.base_url
    api_key_env: str = TeacherConfig.api_key_env
    prices: tuple[float, float] | None = None  # per million (input, output) tokens
    student: str | None = None
    budget_usd: float = DEFAULT_BUDGET_USD
    skip_malformed: bool = False  # lines that cannot be read: skipped, as the run will

    @classmethod
    def of(cls, args: argparse.Namespace) -> InitOptions:
        given = {name: value for name, value in vars(args).items()
                 if value is not None and name in cls.__dataclass_fields__}
        if (args.price_input is None) != (args.price_output is None):
            raise ConfigError("--price-input and --price-output go together")
        if args.price_input is not None:
            given["prices"] = (args.price_input, args.price_output)
        if args.budget is not None:
            given["budget_usd"] = args.budget
        given["out"], given["data"] = Path(args.out), Path(args.data)
        if args.test is not None:
            given["test"] = Path(args.test)
        return cls(**given)


def ask(question: str, default: str | None = None) -> str | None:
    """The user's answer to `question` in a terminal (the default on an empty line);
    `default` when no one is there to ask."""
    if not sys.stdin.isatty():
        return default
    shown = f" [{default}]" if default else ""
    try:
        return input(f"{question}{shown}: ").strip() or default
    except EOFError:  # Ctrl-D: as if nothing was typed
        return default


def init(options: InitOptions) -> str:
    """Check the data, write the config (only if all is valid), and return what to
    print: what was written, the estimate and the next commands."""
    out = options.out
    if out.exists():
        raise ConfigError(f"{out}: already exists; elad init writes a new file (choose "
                          "another name, or remove it)")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent}: no such folder for {out.name}")
    fields, choice = (options.question_field, options.answer_field), \
        options.answer_type in (None, "choice")
    data = read_questions(options.data, *fields, choice=choice, skip=options.skip_malformed)
    test = (read_questions(options.test, *fields, labeled=True, choice=choice,
                           skip=options.skip_malformed)
            if options.test is not None else None)
    answers = data.answers if test is None else test.answers  # those the run compares
    given = options.answer_type  # else guessed from `answers`
    options = dataclasses.replace(options, answer_type=given or guess_answer_type(answers))
    for file in filter(None, (test, data)):  # a guess fits the answers it was made from
        check_choices(file)  # a given type other than choice reads no options
        check_answer_type(options.answer_type, file, guessed=not given)
    model = options.teacher_model or ask("teacher model (e.g. gpt-4o-mini)")
    if not model:
        raise ConfigError("--teacher-model is needed: the teacher LLM's model name, e.g. "
                          "gpt-4o-mini")
    student = options.student or ask("student: a hub model name or local path, or tiny "
                                     "(the small CPU student)", "tiny")
    # a label task's classes: the test file's answers', and the pool's
    classes_from = answers if test is None else [*answers, *data.answers]
    config = run_config(options, data, model, student, classes_from)
    text = to_toml(seen_from(out.parent, config), only=shown_keys(config),
                   header=header(options, data))
    outlook = estimate_run(config)  # what `elad run --dry-run` will print
    write_new(out, text)
    guessed = "" if given else (
        ", guessed: --answer-type sets it" if answers
        else ", as no answer shows their kind: --answer-type sets it")
    wrote = (f"wrote {out}: a run config for {data.path} ({len(data.questions):,} "
             f"questions, {len(data.answers):,} with an answer; answers compared as "
             f"{config.task.answer_type}{guessed})")
    skipped = [line for file in filter(None, (data, test)) for line in file.skipped]
    if skipped:
        wrote += (f"\nnote: {len(skipped)} line(s) that cannot be read left out, as the "
                  "run will leave them out (task.skip_malformed = true); the first: "
                  f"{skipped[0]}")
    first = ([f"first: raise budget_usd in {out}: as it is, the run cannot start (above)"]
             if cannot_start(outlook, config) else [])
    return "\n".join([wrote, *text_note(config, answers),
                      *labels_note(config, classes_from), *small_test_note(config, test),
                      *tiny_note(config), "",
                      format_estimate(outlook, config),
                      "", *first, *next_commands(out, config)])


def text_note(config: RunConfig, answers: list[str]) -> list[str]:
    """What comparing answers as text means, when no answer showed another type."""
    if answers or config.task.answer_type != "text":
        return []
    return [('note: answers compared as text are equal only as written, lower-cased '
             '("1,200" is not "1200"); --answer-type number, choice, yesno or label '
             "compares them as such")]


def tiny_note(config: RunConfig) -> list[str]:
    """What the tiny student is for, when it is the one chosen."""
    if config.student.kind != "tiny":
        return []
    return [("note: the tiny student is a small model trained from scratch on this "
             "machine, to try elad offline; a pretrained one learns real questions: "
             "--student Qwen/Qwen2.5-0.5B-Instruct, or a local model folder")]


def labels_note(config: RunConfig, answers: list[str]) -> list[str]:
    """For a label task, the classes its teacher is told (task.labels), or that it is
    told none; a class given once among the `answers` they come from (the test file's
    and the pool's) may be a typo."""
    if config.task.answer_type != "label":
        return []
    if not config.task.labels:
        return [("note: no answer shows the classes: list them in task.labels, so that "
                 "the teacher answers with one of them")]
    said = [(f"labels: {', '.join(config.task.labels)} (task.labels: the teacher is told "
             "them, and answers with one of them)")]
    given = Counter(normalize_answer(a, "label") for a in answers)
    once = [label for label in config.task.labels
            if given[normalize_answer(label, "label")] == 1]
    if once and len(answers) >= 10:  # "maybe" among yes and no answers
        said.append(f"note: {', '.join(once)} on one line only: a class of its own, or "
                    "a typo to fix (or --answer-type for another kind of answer)?")
    return said


def small_test_note(config: RunConfig, test: DataFile | None,
                    enough: int = 100) -> list[str]:
    """A line for a labeled test set too small to tell rounds apart (the quickstart asks
    for a hundred questions or more): a test file, or the data file's labeled lines."""
    if test is not None:
        n, name = len(test.questions), str(test.path)
    elif config.task.test_size:
        n, name = config.task.test_size, f"the test set ({config.task.path}'s labeled lines)"
    else:
        return []
    if n >= enough:
        return []
    band = 1.96 * (0.25 / n) ** 0.5
    return [f"note: {name} has {n} questions: each is {1 / n:.1%} of test accuracy, "
            f"and at 0.5 its 95% band is +-{band:.2f}; {enough} or more tell rounds apart"]


def run_config(options: InitOptions, data: DataFile, model: str, student_model: str,
               classes_from: list[str]) -> RunConfig:
    """The config `init` writes, validated; a label task's classes are those of
    `classes_from` (the test file's answers and the pool's)."""
    task, pool = task_section(options, data, classes_from)
    sizes = {"seed_size": min(RunConfig.seed_size, max(1, pool // 4)),  # a small file's
             "round_size": min(RunConfig.round_size, max(1, pool // 8)),  # rounds fit it
             "candidates": min(RunConfig.candidates, pool)}
    student = ({"kind": "tiny", "max_new_tokens": TINY_NEW_TOKENS}
               if student_model == "tiny" else
               {"kind": "hf", "model": student_model, **profile("hf"),
                "chat_template": chat_tuned(student_model)})
    teacher = {"kind": "openai", "model": model, "base_url": options.base_url,
               "api_key_env": options.api_key_env,
               "max_output_tokens": TEACHER_OUTPUT_TOKENS}
    if options.prices is not None:
        teacher["price_input_per_mtok"], teacher["price_output_per_mtok"] = options.prices
    config = config_from_dict({"budget_usd": options.budget_usd, **sizes, "task": task,
                               "student": student, "teacher": teacher})
    try:
        teacher_prices(config.teacher)
    except ConfigError:
        raise ConfigError(f"the teacher model {model!r} is not in the price table: give "
                          "--price-input and --price-output (dollars per million tokens; "
                          "0 for a free local server)") from None
    return config


def chat_tuned(model: str) -> bool:
    """Whether `model`'s name says it was tuned to chat (Instruct, Chat, -it): its
    prompts are then best in its own chat template (`student.chat_template`)."""
    return re.search(r"instruct|chat|-it\b", Path(model).name, re.IGNORECASE) is not None


def seen_from(folder: Path, config: RunConfig) -> RunConfig:
    """`config` with its relative data paths as a config file in `folder` names them
    (a config file's relative paths are read from its folder: config.py)."""
    if is_working_directory(folder):
        return config
    config = copy.deepcopy(config)
    for section, names in FILE_KEYS.items():
        holder = getattr(config, section)
        for name in names:
            given = getattr(holder, name)
            if given and not Path(given).is_absolute() and Path(given).exists():
                setattr(holder, name, os.path.relpath(given, folder))
    return config


def task_section(options: InitOptions, data: DataFile,
                 classes_from: list[str]) -> tuple[dict, int]:
    """The [task] keys for the data file (all of its questions: none is cut), and how
    many of them make the pool once a test set is held out of it."""
    n = len(data.questions)
    task = {"kind": "jsonl", "path": str(options.data), "pool_size": 0,  # the whole file
            "question_field": options.question_field, "answer_field": options.answer_field,
            "answer_type": options.answer_type}
    if options.answer_type == "label":  # the test file's classes, and the pool's others
        task["labels"] = labels_of(classes_from)
    if options.answer_type == "choice" and data.options_field:
        task["options_field"] = data.options_field
    if options.skip_malformed:
        task["skip_malformed"] = True
    held_out, labeled = 0, len(data.answers)
    if options.test is not None:
        task["test_path"] = str(options.test)
    elif labeled:  # the file's labeled lines are the test set, as the run reads it
        # (tasks/files.load), a fifth of the file at most so that a pool is left
        task["test_size"] = held_out = min(DEFAULT_TEST, labeled, max(1, n // 5))
    else:  # the teacher annotates a held-out part of the pool (testset.py)
        task["test_from_teacher"] = held_out = min(TEACHER_TEST_SIZE, max(1, n // 5))
    if n - held_out < 2:
        raise ConfigError(f"{options.data}: {n} question(s) leave too few for the pool"
                          + (" once the test set is held out" if held_out else
                             " (it needs 2 or more)"))
    return task, n - held_out


def shown_keys(config: RunConfig) -> set[str]:
    """The keys this config's file shows: SHOWN (less the pretrained student's own for a
    tiny one) and its student profile's values."""
    shown = SHOWN if config.student.kind == "hf" else \
        SHOWN - PRETRAINED_ONLY | {"student.max_new_tokens"}
    task = {"task.labels"} if config.task.answer_type == "label" else set()
    task |= {"task.options_field"} if config.task.options_field else set()
    task |= {"task.skip_malformed"} if config.task.skip_malformed else set()
    return shown | task | {f"student.{key}" for key in profile(config.student.kind)}


def header(options: InitOptions, data: DataFile) -> list[str]:
    test = (f"; labeled test questions: {options.test}" if options.test is not None
            else "")
    return [(f"# An elad run config for {options.data} ({len(data.questions):,} "
             f"questions, {len(data.answers):,} with an answer{test}),"),
            ("# written by `elad init`. Each key is under its help; a key left out keeps "
             "its default"),
            ("# (`elad config` lists them all). What it will cost, offline: `elad run "
             f"{options.out} --dry-run`.")]


def next_commands(out: Path, config: RunConfig) -> list[str]:
    run_dir = f"runs/{out.stem}"
    key = config.teacher.api_key_env
    local = urlsplit(config.teacher.base_url).hostname in ("127.0.0.1", "localhost", "::1")
    commands = [
        *([(f"export {key}=...", "the teacher's API key" + (
            " (a local server that needs none: elad init ... --api-key-env '')"
            if local else ""))] if key and not os.environ.get(key) else []),
        (f"elad run {out} --dry-run", "this estimate again, after an edit"),
        (f"elad run {out} --run-dir {run_dir}", "the run (rerun it to resume)"),
        (f"elad report {run_dir}", f"its rounds, and {run_dir}/report.html"),
        (f"elad export-data {run_dir} --out {run_dir}/data", "its targets as datasets"),
        (f"elad export {run_dir} --out {run_dir}/final", "its student as a model folder"),
    ]
    width = max(len(command) for command, _ in commands)
    return ["next:", *(f"  {command.ljust(width)}   # {why}" for command, why in commands)]


def write_new(path: Path, text: str) -> None:
    """Write `text` to the new file `path` whole (a temporary file, checked as a config,
    then renamed), or not at all."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        load_config(temporary)  # what `elad run` will read
        if path.exists():
            raise ConfigError(f"{path}: already exists; elad init writes a new file")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
