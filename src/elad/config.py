"""Run configuration: dataclasses with defaults that run, a TOML file, key=value overrides.

    elad run my.toml strategy=random student.samples=8

A section name given a plain value sets that section's `kind` (`teacher=oracle`). An
unknown key or a bad value raises ConfigError with a one-line message naming it. The
`[scale]` section says where the work runs (a Ray cluster, an accelerate launch), not
what it computes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from elad.strategies import STRATEGIES


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


class ScaleError(RuntimeError):
    """Work sent elsewhere (a Ray cluster, an accelerate launch) failed; the message says
    where and that a rerun resumes."""


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
class ScaleConfig:
    """Where a round's heavy steps run; never what they compute (a run directory may be
    resumed with other settings here). See ray_scoring.py and launch.py."""

    engine: str = "local"  # round steps 1-2 (explain, score): local | ray
    ray_address: str = ""  # a Ray cluster; "" = $RAY_ADDRESS, else a local one is started
    workers: int = 2  # Ray actors, each holding the round's student
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0  # 1: each actor on its own GPU (vLLM there, if installed)
    batch_questions: int = 32  # candidates per Ray Data batch (one call of an actor)
    train_processes: int = 1  # > 1: each round's training is an `accelerate launch` job
    accelerate_config: str = ""  # that job's accelerate config file (DDP, FSDP, DeepSpeed)


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
    scale: ScaleConfig = field(default_factory=ScaleConfig)

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
    "scale.engine": ("local", "ray"),
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


def validate(config: RunConfig) -> RunConfig:
    """Check choices and ranges; raise ConfigError naming the first bad key."""
    for key, allowed in CHOICES.items():
        value = config
        for part in key.split("."):
            value = getattr(value, part)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    checks = [
        ("alpha", 0 <= config.alpha <= 1, "must be in [0, 1]"),
        ("saturation", 0 < config.saturation <= 1, "must be in (0, 1]"),
        ("max_similarity", -1 <= config.max_similarity <= 1, "must be in [-1, 1]"),
        ("budget_usd", config.budget_usd > 0, "must be positive"),
        ("seed_size", config.seed_size >= 1, "must be at least 1"),
        ("round_size", config.round_size >= 1, "must be at least 1"),
        ("candidates", config.candidates >= config.round_size, "must be >= round_size"),
        ("max_rounds", config.max_rounds >= 0, "must be >= 0"),
        ("student.samples", config.student.samples >= 1, "must be at least 1"),
        ("student.temperature", config.student.temperature > 0, "must be positive"),
        ("teacher.noise", 0 <= config.teacher.noise <= 1, "must be in [0, 1]"),
        ("teacher.max_output_tokens", config.teacher.max_output_tokens >= 1,
         "must be at least 1"),
        ("teacher.concurrency", config.teacher.concurrency >= 1, "must be at least 1"),
        ("teacher.timeout_s", config.teacher.timeout_s > 0, "must be positive"),
        ("teacher.max_retries", config.teacher.max_retries >= 0, "must be >= 0"),
        ("teacher.max_invalid", config.teacher.max_invalid >= 0, "must be >= 0"),
        ("teacher.price_input_per_mtok", config.teacher.price_input_per_mtok >= 0
         or config.teacher.price_input_per_mtok == -1, "must be >= 0 (or -1: table)"),
        ("teacher.price_output_per_mtok", config.teacher.price_output_per_mtok >= 0
         or config.teacher.price_output_per_mtok == -1, "must be >= 0 (or -1: table)"),
        ("task.pool_size", config.task.pool_size >= config.seed_size,
         "must be >= seed_size"),
        ("task.test_size", config.task.test_size >= 1, "must be at least 1"),
        ("teacher.kind", config.teacher.kind != "oracle" or config.task.kind == "synthetic",
         "oracle knows only the synthetic task; use teacher.kind=reference for a dataset"),
        ("teacher.kind", config.teacher.kind != "reference" or config.task.kind != "synthetic",
         "reference replays dataset rationales; the synthetic task has none (use oracle)"),
        ("student.model", config.student.kind != "hf" or bool(config.student.model),
         "is needed for student.kind=hf (a hub name, a local path or gemma-3-270m)"),
        ("student.lora_rank", config.student.lora_rank >= 1, "must be at least 1"),
        ("task.path", config.task.kind != "jsonl" or bool(config.task.path or config.task.hub),
         "is needed for task.kind=jsonl (or task.hub)"),
        ("scale.workers", config.scale.workers >= 1, "must be at least 1"),
        ("scale.cpus_per_worker", config.scale.cpus_per_worker >= 0, "must be >= 0"),
        ("scale.gpus_per_worker", config.scale.gpus_per_worker >= 0, "must be >= 0"),
        ("scale.batch_questions", config.scale.batch_questions >= 1, "must be at least 1"),
        ("scale.train_processes", config.scale.train_processes >= 1, "must be at least 1"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(f"{key} {message}")
    return config


def load_config(path: Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Defaults, then the TOML file (if any), then key=value overrides, then validation."""
    config = RunConfig()
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
