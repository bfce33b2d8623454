"""Run configuration: dataclasses with defaults that run, a TOML file, key=value overrides.

    elad run my.toml strategy=random student.samples=8

A section name given a plain value sets that section's `kind` (`teacher=oracle`). An
unknown key or a bad value raises ConfigError with a one-line message naming it. Each
field's default, one line of help, and its choices or range are set together (`setting`);
config_checks.py checks them, `elad config` prints them (config_help.py). The `[scale]`
section says where the work runs (a Ray cluster, an accelerate launch), not what it
computes.

Relative paths in a config file (`task.path`, `task.test_path`, a local `student.model`,
`scale.accelerate_config`) are read from the file's folder, as its author sees them, so
`elad run configs/mine.toml` works from any directory. On the command line and in the
Python API they are read from the working directory. A run directory stores them
absolute (`absolute_paths`), so a run resumes from any directory.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from elad.config_checks import TRACKERS as TRACKERS  # re-exported: report_to's names
from elad.config_checks import ConfigError, Range, validate
from elad.config_sections import (  # re-exported: the sections are read from here
    MAX_USD, ScaleConfig, ScaleError, StudentConfig, TaskConfig, TeacherConfig, setting,
)
from elad.profiles import profile
from elad.strategies import STRATEGIES


@dataclass
class RunConfig:
    """A run: the method's settings (the top-level keys) and its three sections."""

    seed: int = setting(0, "seeds every random choice (pool, selection, training)",
                        within=Range())
    strategy: str = setting("targeted", "how questions are ranked for the teacher: "
                            "targeted (elad's uncertainty weighted by how often the "
                            "teacher found the student wrong among similar questions), "
                            "elad (the paper's uncertainty), adaptive (coverage of the "
                            "pool mixed with it by the student's competence), a baseline, "
                            "or oracle (a bench's ceiling: the student's wrong answers "
                            "first, from the task's hidden answers)",
                            choices=STRATEGIES)
    mode: str = setting("auto", "revise the student's explanation, annotate from "
                        "scratch (the baseline), or auto: per question, whichever is "
                        "expected to cost less",
                        choices=("revise", "annotate", "auto"))
    alpha: float = setting(0.5, "weight of intra- vs inter-explanation uncertainty in "
                           "u(q)",
                           within=Range(0, 1))
    seed_size: int = setting(100, "b0: questions asked about in round 0 (annotated, or "
                             "as `mode` says when the student ranks them)",
                             within=Range(1))
    rank_seed_round: bool = setting(True, "round 0's questions ranked by the strategy too "
                                    "when the student can explain before any training (a "
                                    "warm or pretrained student); false, or a student "
                                    "from scratch: random ones")
    round_size: int = setting(50, "b: questions sent to the teacher per round (the last "
                              "round, up to about twice as many: the rest of the budget)",
                              within=Range(1))
    candidates: int = setting(400, "m: pool questions the student explains per round "
                              "(strategy random: at most 2 x round_size)",
                              within=Range(1))
    budget_usd: float = setting(0.25, "dollars the teacher may be paid, never exceeded",
                                within=Range(0, MAX_USD, low_open=True))
    saturation: float = setting(0.9, "theta: stop when the teacher's latest verdicts show, "
                                "with 90% confidence, that its answer is the student's on "
                                "this fraction of the questions (a round's, or the "
                                "latest saturation_window's); 1 = never",
                                within=Range(0, 1, low_open=True))
    saturation_window: int = setting(50, "the fewest teacher verdicts theta is judged on: "
                                     "a smaller round is counted with the rounds before "
                                     "it",
                                     within=Range(1))
    max_rounds: int = setting(4, "rounds after the seed round",
                              within=Range(0))
    stop_gain_per_usd: float = setting(0.0, "stop when the forecast says the next round "
                                       "buys less than this much accuracy per dollar "
                                       "(0.05: five points per $), with 90% confidence; "
                                       "0 = off",
                                       within=Range(0))
    hint: bool = setting(False, "tell the teacher the student's least stable step (off: "
                         "it is seldom the first wrong step; docs/benchmarks.md)")
    max_similarity: float = setting(1.0, "diversity filter: cosine similarity of student "
                                    "representations above which a question is skipped; "
                                    "1 = off",
                                    within=Range(-1, 1))
    error_threshold: float = setting(0.9, "a step in which the student gave a token less "
                                     "than this probability is predicted to be its first "
                                     "wrong one (mode=auto, cost_aware)",
                                     within=Range(0, 1, low_open=True))
    explore: float = setting(0.0, "share of each round's questions drawn at random from "
                             "the candidates, the rest by the strategy: the student also "
                             "learns where it is wrong but sure",
                             within=Range(0, 1))
    cost_aware: bool = setting(True, "rank by the strategy's value per expected teacher "
                               "dollar (random draws uniformly whatever this says)")
    report_to: list[str] = setting([], "experiment trackers each round's metrics go to: "
                                   "tensorboard, mlflow, wandb, trackio; [] = none")
    task: TaskConfig = field(default_factory=TaskConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _set(config: Any, dotted: str, raw: Any, where: str, section: str = "") -> None:
    """Set one (possibly dotted) key, converting `raw` to the field's type; `section`:
    the dotted name of `config` in the whole config, for messages ("teacher.")."""
    *path, name = dotted.split(".")
    target = config
    for part in path:
        sections = {f.name for f in dataclasses.fields(target)
                    if dataclasses.is_dataclass(getattr(target, f.name))}
        if part not in sections:
            raise ConfigError(f"{where}: unknown section {part!r} in {dotted!r}")
        target = getattr(target, part)
    fields = {f.name: f for f in dataclasses.fields(target)}
    if name not in fields:
        close = ", ".join(sorted(fields))
        above = (f"; a key after [{section[:-1]}] is read as part of it, so top-level keys "
                 "go above the first [section]" if section and
                 name in {f.name for f in dataclasses.fields(RunConfig)} else "")
        meant = difflib.get_close_matches(name, fields, n=1)
        guess = f"; did you mean {section + '.'.join(path + meant)!r}?" if meant else ""
        raise ConfigError(f"{where}: unknown key {section + dotted!r}{guess} (known here: "
                          f"{close}){above}")
    current = getattr(target, name)
    if dataclasses.is_dataclass(current):
        if isinstance(raw, dict):
            for key, value in raw.items():
                _set(current, key, value, where, f"{section}{dotted}.")
            return
        _set(current, "kind", raw, where, f"{section}{dotted}.")
        return
    setattr(target, name, _convert(raw, current, section + dotted, where))


def _convert(raw: Any, current: Any, key: str, where: str) -> Any:
    """`raw` (a TOML value or an override string) as the type of the default `current`."""
    kind = type(current)
    try:
        if isinstance(raw, str) and kind is not str:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return raw.lower() in ("true", "1", "yes")
            if kind is list and raw.lstrip().startswith("["):  # as in a TOML file
                return _convert(tomllib.loads(f"list = {raw}")["list"], current, key, where)
            if kind is list:
                return [item.strip() for item in raw.split(",") if item.strip()]
            return kind(raw)
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
            raise ValueError
        if kind is list and not all(isinstance(item, str) for item in raw):
            raise ValueError  # every list setting is of names
        return raw
    except (ValueError, tomllib.TOMLDecodeError):
        form = ' (write a,b or ["a", "b"])' if kind is list else ""
        raise ConfigError(f"{where}: {key}={raw!r} is not a valid {kind.__name__}{form}"
                          ) from None


Item = tuple[str, Any, str]  # (dotted key, value, where it was given)


def load_config(path: Path | None = None, overrides: list[str] = (),
                base: RunConfig | None = None) -> RunConfig:
    """The defaults of the student kind the file and overrides name (profiles.py), or
    `base` (a run directory's stored config, kept as it is), then the TOML file's keys
    (if any), then key=value overrides, then validation."""
    items: list[Item] = _file_items(path) if path is not None else []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        items.append((key.strip(), value.strip(), "override"))
    if base is not None:
        return validate(_applied(copy.deepcopy(base), items), base)
    return validate(_profiled(items))


def _file_items(path: Path) -> list[Item]:
    """The keys of a TOML config file, each with where it was given."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM: Notepad
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a config file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {error.start}); a "
                          "config file is TOML") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    folder = Path(path).parent
    return [(key, _beside(folder, key, value), str(path)) for key, value in data.items()]


# the keys whose value in a config file names a file or folder (student.model: when it is
# one there; otherwise a hub name)
FILE_KEYS = {"task": ("path", "test_path"), "student": ("model",),
             "scale": ("accelerate_config",)}


def absolute_paths(config: RunConfig) -> RunConfig:
    """A copy of `config` with its relative file paths (`FILE_KEYS`; `student.model` when
    it names a local folder) made absolute from the working directory: a run directory
    stores them so, and `elad run --run-dir` then finds its files from any directory."""
    config = copy.deepcopy(config)
    for section, names in FILE_KEYS.items():
        holder = getattr(config, section)
        for name in names:
            given = getattr(holder, name)
            if given and (name != "model" or Path(given).expanduser().exists()):
                setattr(holder, name, os.path.abspath(Path(given).expanduser()))
    return config


def is_working_directory(folder: Path) -> bool:
    """Whether a config file in `folder` names paths as the command line does."""
    return folder.resolve() == Path.cwd().resolve()


def _beside(folder: Path, key: str, value: Any) -> Any:
    """A config file's section `key` with its relative paths read from the file's own
    `folder`, as the file's author sees them, whatever the working directory (unchanged
    when the file is in the working directory)."""
    names = FILE_KEYS.get(key, ())
    if not names or not isinstance(value, dict) or is_working_directory(folder):
        return value
    value = dict(value)
    for name in names:
        given = value.get(name)
        if not isinstance(given, str) or not given or Path(given).expanduser().is_absolute():
            continue
        there = os.path.normpath(folder / given)
        if name != "model" or Path(there).exists():
            value[name] = there
    return value


def _applied(config: RunConfig, items: list[Item]) -> RunConfig:
    for key, value, where in items:
        _set(config, key, value, where)
    return config


def _profiled(items: list[Item]) -> RunConfig:
    """`items` over the defaults of the student kind they name: a key they set wins
    over the kind's profile."""
    kind = _applied(RunConfig(), items).student.kind  # also finds a bad key first
    return _applied(defaults_for(kind), items)


def defaults_for(student_kind: str) -> RunConfig:
    """The defaults of a run whose student is of `student_kind` (profiles.py)."""
    config = RunConfig()
    config.student.kind = student_kind
    for key, value in profile(student_kind).items():
        setattr(config.student, key, value)
    return config


def choices(key: str) -> tuple:
    """The values a dotted key ("student.kind") may take, () if any of its type."""
    *sections, name = key.split(".")
    target = RunConfig()
    for part in sections:
        target = getattr(target, part)
    return {f.name: f for f in dataclasses.fields(target)}[name].metadata.get("choices", ())


def config_from_dict(data: dict, base: RunConfig | None = None) -> RunConfig:
    """A config from a dict shaped like a config file (sections as nested dicts), on
    the defaults of its student kind or on `base` (a run directory's stored config),
    validated (the Python API's `elad.run`)."""
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f"config keys are text, as in a config file: not {odd[0]!r}")
    items = [(key, value, "config") for key, value in data.items()]
    if base is not None:
        return validate(_applied(copy.deepcopy(base), items), base)
    return validate(_profiled(items))


def config_from_json(text: str) -> RunConfig:
    """Rebuild a RunConfig saved with `to_json` (the run store keeps one): every key is
    there, so no profile applies and a resumed run keeps the values it started with."""
    config = RunConfig()
    for key, value in json.loads(text).items():
        _set(config, key, value, "stored config")
    return config
