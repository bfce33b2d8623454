"""Reading a reasoning dataset: where its files are, their items with line numbers,
malformed lines, and the seeded pool and test samples.

Pool lines of user data need only a question (jsonl.py); a test split's lines, and
`task.test_path`'s, need their answers.

Each dataset module (gsm8k.py, svamp.py, aqua.py, strategyqa.py, jsonl.py) only says how
one item becomes a question, a raw answer and rationale steps (`parse`), which splits it
has in which files (`SPLITS`, `DEFAULT_SPLITS`) and its `ANSWER_TYPE`. The data comes
from a local copy (`task.path`, by default `../shared/data/<kind>` next to the project)
or, only when `task.hub` names one, from the hub through the `datasets` library.
"""

from __future__ import annotations

import codecs
import dataclasses
import itertools
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from elad.answers import normalize_answer
from elad.config import ConfigError, TaskConfig
from elad.tasks.synthetic import TaskData
from elad.types import Example

log = logging.getLogger("elad")
PROJECT_ROOT = Path(__file__).resolve().parents[3]  # src/elad/tasks/files.py
TEST_FILE = "testfile"  # the split name of task.test_path's questions (in their ids)
DEFAULT_TEST = 300  # test_size=0 takes up to this many of one file's labeled lines


class Malformed(ValueError):
    """An item that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Solved:
    """A dataset question with its normalized gold answer (None: a pool line of user
    data without one) and its human rationale (slots: a split may have millions)."""

    id: str
    question: str
    answer: str | None
    steps: tuple[str, ...]


def text_field(item: Any, name: str) -> str:
    """A non-empty string field of a JSON object, or Malformed."""
    if not isinstance(item, dict):
        raise Malformed(f"not a JSON object but {type(item).__name__}")
    value = item.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        fields = f" (fields here: {', '.join(map(str, item))})" if name not in item else ""
        raise Malformed(f"no {name!r} text{fields}")
    return value.strip()


CHUNK = 1 << 20  # bytes read at a time by the first pass


def _is_array(path: Path) -> bool:
    """Whether the file's text, past a UTF-8 byte order mark and white space, starts
    with '[' (a JSON array); ConfigError naming the line of a NUL byte anywhere in it.
    Read a chunk at a time."""
    first, lines = b"", 1
    with open(path, "rb") as f:
        head = f.read(len(codecs.BOM_UTF8)).removeprefix(codecs.BOM_UTF8)
        for chunk in itertools.chain([head], iter(lambda: f.read(CHUNK), b"")):
            first = first or chunk.lstrip()[:1]
            if (nul := chunk.find(b"\x00")) >= 0:
                line = lines + chunk.count(b"\n", 0, nul)
                raise ConfigError(f"{path}:{line}: a NUL byte: this is a binary file (or "
                                  "UTF-16 text), not UTF-8 JSON lines")
            lines += chunk.count(b"\n")
    return first == b"["


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, item or Malformed) for each non-blank line of a JSON-lines file,
    its lines numbered as `bytes.splitlines` numbers them (a lone carriage return ends
    one too)."""
    number = 0
    with open(path, "rb") as f:
        for read in f:
            if number == 0:
                read = read.removeprefix(codecs.BOM_UTF8)
            for raw in read.splitlines() if b"\r" in read else [read.rstrip(b"\n")]:
                number += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    yield number, Malformed(f"not UTF-8 text (byte 0x{raw[error.start]:02x}"
                                            f" at column {error.start + 1})")
                    continue
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except json.JSONDecodeError as error:
                        yield number, Malformed(not_json(error))


def not_json(error: json.JSONDecodeError) -> str:
    """The words for a line that is not JSON ("Unterminated string starting at" is
    followed by its column)."""
    where = " " if error.msg.endswith(" at") else ", "
    return f"not valid JSON ({error.msg}{where}column {error.colno})"


def json_items(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, item) for a JSON-lines file or a JSON array file. Each line is
    decoded on its own: a line that is not UTF-8 or not JSON is yielded as a Malformed
    item (so `task.skip_malformed` can skip it); a binary file or a broken array is a
    ConfigError naming the line. JSON lines are read one at a time (a pool of millions
    of lines is never held as bytes); a first pass looks for a NUL byte anywhere and for
    the array's opening bracket."""
    if not _is_array(path):
        yield from _json_lines(path)
        return
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte "
                          f"0x{data[error.start]:02x})") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: {not_json(error)}") from None
    decoder = json.JSONDecoder()
    position, line, counted = text.index("[") + 1, 1, 0
    while True:
        while text[position] in " \t\r\n,":
            position += 1
        if text[position] == "]":
            return
        line += text.count("\n", counted, position)
        counted = position
        item, position = decoder.raw_decode(text, position)
        yield line, item


def local_root(config: TaskConfig) -> Path:
    """The file or folder to read: `task.path`, or the shared copy next to the project
    (looked for from the working directory, then from the project's own folder)."""
    if config.path:
        path = Path(config.path).expanduser()
        if not path.exists():
            raise ConfigError(f"task.path={config.path!r}: no such file or folder")
        return path
    tried = [Path.cwd() / "../shared/data" / config.kind,
             PROJECT_ROOT / "../shared/data" / config.kind]
    for path in tried:
        if path.exists():
            return path.resolve()
    raise ConfigError(f"task.kind={config.kind}: no local copy in "
                      f"{' or '.join(str(p) for p in tried)}; set task.path= to one, or "
                      "task.hub= to a hub dataset name")


def answer_type_of(dataset: ModuleType, config: TaskConfig) -> str:
    """The dataset's answer type, or for user data the configured one."""
    return dataset.ANSWER_TYPE or config.answer_type or "text"


def _rows(dataset: ModuleType, config: TaskConfig, split: str
          ) -> tuple[str, Iterator[tuple[int, Any]]]:
    """Where a split comes from (for messages) and its (line, item) pairs."""
    if config.hub:
        try:
            import datasets  # only when asked: never in tests, needs the network
        except ImportError:
            raise ConfigError("task.hub needs the `datasets` package: "
                              "pip install 'elad[hub]'") from None
        try:
            rows = datasets.load_dataset(config.hub, config.hub_config or None, split=split)
        except (OSError, ValueError) as error:  # not found, no network, no such split
            raise ConfigError(f"task.hub={config.hub} split {split!r}: {error}") from None
        return f"{config.hub}[{split}]", ((i, dict(row)) for i, row in enumerate(rows, 1))
    if split == TEST_FILE:
        path = Path(config.test_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"task.test_path={config.test_path!r}: no such file")
        return str(path), json_items(path)
    root = local_root(config)
    if root.is_file():
        return str(root), json_items(root)
    name = dataset.SPLITS.get(split) if dataset.SPLITS is not None else f"{split}.jsonl"
    if name is None or not (root / name).is_file():
        raise ConfigError(f"{root}: no {split!r} split here ({splits_here(dataset, root)})")
    return str(root / name), json_items(root / name)


def splits_here(dataset: ModuleType, root: Path) -> str:
    """The splits whose files `root` holds, for a message (not every split the dataset
    names: a copy may lack some)."""
    if dataset.SPLITS is None:
        found = sorted(path.stem for path in root.glob("*.jsonl"))
    else:
        found = sorted(split for split, name in dataset.SPLITS.items()
                       if (root / name).is_file())
    return f"splits here: {', '.join(found)}" if found else "no split's file is here"


@lru_cache(maxsize=16)
def _read(dataset: ModuleType, config_json: str, split: str) -> dict[str, Solved]:
    config = TaskConfig(**json.loads(config_json))
    answer_type = answer_type_of(dataset, config)
    labels = {normalize_answer(x, answer_type) for x in config.labels}
    labeled = split != splits(dataset, config)[0]  # a test split: every answer needed
    where, rows = _rows(dataset, config, split)
    solved, skipped = {}, 0
    for line, item in rows:
        try:
            if isinstance(item, Malformed):
                raise item
            question, raw, steps = dataset.parse(item, config)
            if raw is None and labeled:
                raise Malformed(no_answer(item, config))
            answer = None if raw is None else normalize_answer(raw, answer_type)
            if answer is None and raw is not None:
                raise Malformed(f"answer {raw!r} is not a {answer_type}")
            if answer is not None and labels and answer not in labels:
                raise Malformed(f"answer {raw!r} is not one of task.labels "
                                f"({', '.join(config.labels)}): fix the line, or add "
                                "its class to task.labels")
        except Malformed as problem:
            if not config.skip_malformed:
                raise ConfigError(f"{where}:{line}: {problem} (task.skip_malformed=true "
                                  "skips such lines)") from None
            skipped += 1
            if skipped <= 5:
                log.warning("%s:%d: skipped: %s", where, line, problem)
            continue
        example_id = f"{config.kind}-{split}-{line:05d}"
        solved[example_id] = Solved(example_id, question, answer, tuple(steps))
    if skipped:
        log.warning("%s: %d malformed lines skipped, %d read", where, skipped, len(solved))
    if not solved:
        raise ConfigError(f"{where}: no question to read" + (
            f" ({skipped} malformed lines skipped)" if skipped else " (it is empty)"))
    return solved


def read_split(dataset: ModuleType, config: TaskConfig, split: str) -> dict[str, Solved]:
    """Every item of one split by id, parsed (cached: the loop, the reference teacher
    and the diagnostics read the same files; do not change it)."""
    return _read(dataset, json.dumps(dataclasses.asdict(config), sort_keys=True), split)


def splits(dataset: ModuleType, config: TaskConfig) -> tuple[str, str]:
    """The pool and test split names; a single local file is one split, "all"."""
    if not config.hub and local_root(config).is_file():
        return "all", "all"
    return (config.pool_split or dataset.DEFAULT_SPLITS[0],
            config.test_split or dataset.DEFAULT_SPLITS[1])


def load(dataset: ModuleType, config: TaskConfig, seed: int) -> TaskData:
    """The pool (answers hidden): every question of the pool split, or a seeded
    `pool_size`; the labeled test questions: those of `task.test_path` or the test
    split (all, or a seeded `test_size`), or from one file a seeded `test_size` (0: up
    to 300) of its lines that have an answer, the rest its pool. With none (or with
    `task.test_from_teacher`) the test list is empty: the teacher annotates the run's
    test set (testset.py)."""
    pool_split, test_split = splits(dataset, config)
    test_split = TEST_FILE if config.test_path else test_split
    rng = random.Random(f"{config.kind}-{seed}")
    read_test = pool_split == test_split or not config.test_from_teacher
    test_items = list(read_split(dataset, config, test_split).values()) if read_test else []
    rng.shuffle(test_items)
    if pool_split == test_split:
        labeled = [] if config.test_from_teacher else \
            [s for s in test_items if s.answer is not None]
        test = labeled[:config.test_size or DEFAULT_TEST]
        taken = {s.id for s in test}
        pool = [s for s in test_items if s.id not in taken][:config.pool_size or None]
        if not pool:
            raise ConfigError(f"task.test_size={config.test_size} takes all "
                              f"{len(test_items)} questions: nothing is left for the "
                              "pool; lower task.test_size")
        test_from = f"{source_name(config, test_split)}'s labeled lines"
    else:
        test = test_items[:config.test_size or None]  # none read: test_from_teacher
        pool_items = list(read_split(dataset, config, pool_split).values())
        rng.shuffle(pool_items)
        pool = pool_items[:config.pool_size or None]
        test_from = source_name(config, test_split)
    if len(pool) < config.pool_size or len(test) < config.test_size:
        log.info("%s: %d pool and %d test questions (fewer than asked)", config.kind,
                 len(pool), len(test))
    if note := repeats_note([s.question for s in pool], [s.question for s in test]):
        log.warning("%s: %s", source_name(config, pool_split), note)
    task = (config.kind if dataset.ANSWER_TYPE
            else f"{config.kind}-{answer_type_of(dataset, config)}")  # "jsonl-number"
    sample = f"task.pool_size={config.pool_size}" if config.pool_size else "all"
    return TaskData(pool=[Example(s.id, task, s.question) for s in pool],
                    test=[Example(s.id, task, s.question, s.answer) for s in test],
                    pool_from=f"{source_name(config, pool_split)} ({sample})",
                    test_from=test_from)


def repeats_note(pool: list[str], test: list[str]) -> str | None:
    """What a user should hear of repeated questions before paying (None: nothing): pool
    questions given more than once, and test questions that are also pool questions."""
    distinct = set(pool)
    repeated, shared = len(pool) - len(distinct), sum(q in distinct for q in set(test))
    notes = []
    if repeated:
        notes.append(f"repeated pool questions: {repeated:,} (each may be bought and "
                     "trained on more than once)")
    if shared:
        notes.append(f"test questions also in the pool: {shared:,} (the test accuracy may "
                     "count questions the student is trained on)")
    return "; ".join(notes) or None


def source_name(config: TaskConfig, split: str) -> str:
    """Where a split's questions come from, for the log: a file name, a dataset
    folder's split, or a hub dataset's."""
    if split == TEST_FILE:
        return Path(config.test_path).name
    if config.hub:
        return f"{config.hub}[{split}]"
    root = local_root(config)
    return root.name if root.is_file() else f"{root.name}/{split}"


def no_answer(item: Any, config: TaskConfig) -> str:
    """Why a test line without an answer cannot be used (only user data has such
    lines: the dataset modules' parse needs an answer everywhere)."""
    field = config.answer_field
    if isinstance(item, dict) and field not in item:
        fields = ", ".join(repr(name) for name in list(item)[:8]) or "none"
        return (f"no {field!r} field (task.answer_field): a test question needs its "
                f"answer (this line's fields: {fields})")
    return f"no {field!r} text: a test question needs its answer"


def solved_by_id(dataset: ModuleType, config: TaskConfig, example_id: str) -> Solved:
    """The dataset item behind an example id (`<kind>-<split>-<line>`)."""
    split = example_id[len(config.kind) + 1:].rsplit("-", 1)[0]
    return read_split(dataset, config, split)[example_id]
