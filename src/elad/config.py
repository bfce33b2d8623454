"""Run configuration: dataclasses with defaults that run, a TOML file, key=value overrides.

    elad run my.toml strategy=random student.samples=8

A section name given a plain value sets that section's `kind` (`teacher=oracle`). An
unknown key or a bad value raises ConfigError with a one-line message naming it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from elad.strategies import STRATEGIES


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


@dataclass
class TaskConfig:
    kind: str = "synthetic"
    families: list[str] = field(default_factory=lambda: ["arithmetic", "coin_flip", "largest"])
    pool_size: int = 3000
    test_size: int = 300
    # reasoning datasets (gsm8k, svamp, aqua, strategyqa, jsonl); see tasks/files.py
    path: str = ""  # local file or folder; "" = ../shared/data/<kind> next to the project
    hub: str = ""  # a hub dataset name, read with `datasets` instead of a local copy
    hub_config: str = ""  # the hub dataset's configuration ("main" for openai/gsm8k)
    pool_split: str = ""  # "" = the dataset's usual pool split (gsm8k: train)
    test_split: str = ""  # "" = its usual test split (gsm8k: test)
    question_field: str = "question"  # jsonl: field names
    answer_field: str = "answer"
    rationale_field: str = ""  # jsonl: a rationale (text with one step a line, or a list)
    answer_type: str = ""  # jsonl: number | choice | yesno | label | text ("" = text)
    skip_malformed: bool = False  # skip (and log) unreadable items instead of stopping


@dataclass
class StudentConfig:
    kind: str = "tiny"
    hidden_size: int = 96
    layers: int = 3
    heads: int = 4
    vocab_size: int = 512
    max_length: int = 256
    samples: int = 4  # K explanations per candidate question
    temperature: float = 1.0
    max_new_tokens: int = 96
    batch_size: int = 256  # sequences per generation batch (teacher-forced: a quarter)
    train_batch_size: int = 32
    learning_rate: float = 3e-3
    train_steps: int = 200  # optimizer steps per round, over all targets so far
    seed_train_steps: int = 500  # steps after the seed round (student starts from scratch)
    # pretrained students (kind = "hf"); see student/pretrained.py
    model: str = ""  # a hub name, a local path, or the preset "gemma-3-270m"
    chat_template: bool = False  # prompts in the model's chat template (else "Q: ...\nA:")
    finetune: str = "lora"  # lora | full (tiny students always train in full)
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["all-linear"])
    dtype: str = "auto"  # auto (bfloat16 on a GPU, else float32) | float32 | bfloat16 | float16
    device: str = "auto"  # auto (cuda if there is one) | cpu | cuda | cuda:1 ...
    backend: str = "auto"  # sampling and scoring: auto (vllm if it and a GPU are there) | hf


@dataclass
class TeacherConfig:
    kind: str = "oracle"  # oracle (synthetic tasks) | reference (datasets) | openai
    model: str = "gpt-4o"  # the model asked (openai) and priced (every teacher)
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # environment variable with the key; "" = none
    temperature: float = 0.0
    max_output_tokens: int = 128  # sent as the token limit; the worst case reserved
    concurrency: int = 8  # requests in flight
    timeout_s: float = 60.0  # per request
    max_retries: int = 5  # per request, on 429, 5xx, timeouts and broken replies
    max_invalid: int = 2  # re-asks after a reply that fails validation
    structured_output: str = "json_schema"  # json_schema | json_object_schema | json_object | none
    token_limit_param: str = "max_tokens"  # max_completion_tokens for reasoning models
    price_input_per_mtok: float = -1.0  # dollars per million tokens; -1: price table
    price_output_per_mtok: float = -1.0
    noise: float = 0.0  # oracle only: fraction of replies with one wrong step


@dataclass
class RunConfig:
    seed: int = 0
    strategy: str = "elad"  # random | entropy | least-confidence | intra | elad
    mode: str = "revise"  # revise | annotate
    alpha: float = 0.5
    seed_size: int = 150  # b0: questions annotated from scratch in round 0
    round_size: int = 100  # b: questions sent to the teacher per round
    candidates: int = 160  # m: pool questions the student explains per round
    budget_usd: float = 0.5
    saturation: float = 0.9  # stop when the teacher confirms this fraction of a round
    max_rounds: int = 3
    hint: bool = True  # tell the teacher the student's least stable step
    max_similarity: float = 1.0  # diversity filter (cosine, student representations); 1 = off
    task: TaskConfig = field(default_factory=TaskConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


CHOICES = {
    "strategy": STRATEGIES,
    "mode": ("revise", "annotate"),
    "task.kind": ("synthetic", "gsm8k", "svamp", "aqua", "strategyqa", "jsonl"),
    "task.answer_type": ("", "number", "choice", "yesno", "label", "text"),
    "student.kind": ("tiny", "hf"),
    "student.finetune": ("lora", "full"),
    "student.dtype": ("auto", "float32", "bfloat16", "float16"),
    "student.backend": ("auto", "hf", "vllm"),
    "teacher.kind": ("oracle", "reference", "openai"),
    "teacher.structured_output": ("json_schema", "json_object_schema", "json_object", "none"),
    "teacher.token_limit_param": ("max_tokens", "max_completion_tokens"),
}


def _set(config: Any, dotted: str, raw: Any, where: str) -> None:
    """Set one (possibly dotted) key, converting `raw` to the field's type."""
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
        raise ConfigError(f"{where}: unknown key {dotted!r} (known here: {close})")
    current = getattr(target, name)
    if dataclasses.is_dataclass(current):
        if isinstance(raw, dict):
            for key, value in raw.items():
                _set(current, key, value, where)
            return
        _set(current, "kind", raw, where)
        return
    setattr(target, name, _convert(raw, current, dotted, where))


def _convert(raw: Any, current: Any, key: str, where: str) -> Any:
    """`raw` (a TOML value or an override string) as the type of the default `current`."""
    kind = type(current)
    try:
        if isinstance(raw, str) and kind is not str:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return raw.lower() in ("true", "1", "yes")
            if kind is list:
                return [item.strip() for item in raw.split(",") if item.strip()]
            return kind(raw)
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
            raise ValueError
        return raw
    except ValueError:
        raise ConfigError(f"{where}: {key}={raw!r} is not a valid {kind.__name__}") from None


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
        if ((self.low < value if self.low_open else self.low <= value)
                and (value < self.high if self.high_open else value <= self.high)):
            return None
        return str(self)

    def __str__(self) -> str:
        if self.high == math.inf:
            text = f"must be {'>' if self.low_open else '>='} {self.low}"
        else:
            text = (f"must be in {'(' if self.low_open else '['}{self.low}, "
                    f"{self.high}{')' if self.high_open else ']'}")
        return text + (f" or {self.also}" if self.also is not None else "")


POSITIVE = Range(0, low_open=True)
# Every numeric setting and its range (a test checks that none is missing).
RANGES = {
    "seed": Range(),
    "alpha": Range(0, 1),
    "seed_size": Range(1),
    "round_size": Range(1),
    "candidates": Range(1),
    "budget_usd": POSITIVE,
    "saturation": Range(0, 1, low_open=True),
    "max_rounds": Range(0),
    "max_similarity": Range(-1, 1),
    "task.pool_size": Range(1),
    "task.test_size": Range(1),
    "student.hidden_size": Range(1),
    "student.layers": Range(1),
    "student.heads": Range(1),
    "student.vocab_size": Range(1),
    "student.max_length": Range(1),
    "student.samples": Range(1),
    "student.temperature": POSITIVE,
    "student.max_new_tokens": Range(1),
    "student.batch_size": Range(1),
    "student.train_batch_size": Range(1),
    "student.learning_rate": POSITIVE,
    "student.train_steps": Range(1),
    "student.seed_train_steps": Range(1),
    "student.lora_rank": Range(1),
    "student.lora_alpha": POSITIVE,
    "student.lora_dropout": Range(0, 1, high_open=True),
    "teacher.temperature": Range(0, 2),
    "teacher.max_output_tokens": Range(1),
    "teacher.concurrency": Range(1),
    "teacher.timeout_s": POSITIVE,
    "teacher.max_retries": Range(0),
    "teacher.max_invalid": Range(0),
    "teacher.price_input_per_mtok": Range(0, also=-1),
    "teacher.price_output_per_mtok": Range(0, also=-1),
    "teacher.noise": Range(0, 1),
}


def value_of(config: RunConfig, key: str) -> Any:
    """The value of a dotted key ("student.samples")."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def validate(config: RunConfig) -> RunConfig:
    """Check choices, ranges and how settings fit together; raise ConfigError naming the
    first bad key."""
    for key, allowed in CHOICES.items():
        value = value_of(config, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    for key, allowed in RANGES.items():
        value = value_of(config, key)
        if problem := allowed.problem(value):
            raise ConfigError(f"{key}={value!r} {problem}")
    checks = [
        ("candidates", config.candidates >= config.round_size, "must be >= round_size"),
        ("task.pool_size", config.task.pool_size >= config.seed_size,
         "must be >= seed_size"),
        ("student.hidden_size", config.student.kind != "tiny"
         or config.student.hidden_size % config.student.heads == 0,
         "must be a multiple of student.heads"),
        ("teacher.kind", config.teacher.kind != "oracle" or config.task.kind == "synthetic",
         "oracle knows only the synthetic task; use teacher.kind=reference for a dataset"),
        ("teacher.kind", config.teacher.kind != "reference" or config.task.kind != "synthetic",
         "reference replays dataset rationales; the synthetic task has none (use oracle)"),
        ("student.model", config.student.kind != "hf" or bool(config.student.model),
         "is needed for student.kind=hf (a hub name, a local path or gemma-3-270m)"),
        ("task.path", config.task.kind != "jsonl" or bool(config.task.path or config.task.hub),
         "is needed for task.kind=jsonl (or task.hub)"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(f"{key} {message}")
    return config


def load_config(path: Path | None = None, overrides: list[str] = (),
                base: RunConfig | None = None) -> RunConfig:
    """The defaults (or `base`: a run directory's stored config), then the TOML file's
    keys (if any), then key=value overrides, then validation."""
    config = copy.deepcopy(base) if base is not None else RunConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML ({error})") from None
        for key, value in data.items():
            _set(config, key, value, str(path))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        _set(config, key.strip(), value.strip(), "override")
    return validate(config)


def config_from_json(text: str) -> RunConfig:
    """Rebuild a RunConfig saved with `to_json` (the run store keeps one)."""
    config = RunConfig()
    for key, value in json.loads(text).items():
        _set(config, key, value, "stored config")
    return config
