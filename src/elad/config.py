"""Run configuration: dataclasses with defaults that run, a TOML file, key=value overrides.

    elad run my.toml strategy=random student.samples=8

A section name given a plain value sets that section's `kind` (`teacher=oracle`). An
unknown key or a bad value raises ConfigError with a one-line message naming it. Each
field's default and one line of help are set together (`setting`); `elad config` prints
them (config_help.py). The `[scale]` section says where the work runs (a Ray cluster, an
accelerate launch), not what it computes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import tomllib

from elad.strategies import STRATEGIES


TRACKERS = ("trackio", "tensorboard", "wandb", "mlflow")  # what report_to can name


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


def setting(default: Any, about: str) -> Any:
    """A config field: its default and the one line of help `elad config` prints (a
    list default is copied for each config)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": about})
    return field(default=default, metadata={"help": about})


class ScaleError(RuntimeError):
    """Work sent elsewhere (a Ray cluster, an accelerate launch) failed; the message says
    where and that a rerun resumes."""


@dataclass
class TaskConfig:
    """Where the questions come from."""

    kind: str = setting("synthetic", "the questions: built-in synthetic tasks or a dataset")
    families: list[str] = setting(["arithmetic", "coin_flip", "largest"],
                                  "synthetic: the task families mixed in the pool")
    pool_size: int = setting(3000, "unlabeled pool questions drawn (seeded)")
    test_size: int = setting(300, "held-out test questions drawn (seeded)")
    # reasoning datasets (gsm8k, svamp, aqua, strategyqa, jsonl); see tasks/files.py
    path: str = setting("", "local file or folder; '' = ../shared/data/<kind> next to "
                        "the project")
    hub: str = setting("", "a hub dataset name, read with `datasets` instead of a local "
                       "copy")
    hub_config: str = setting("", "the hub dataset's configuration ('main' for "
                              "openai/gsm8k)")
    pool_split: str = setting("", "'' = the dataset's usual pool split (gsm8k: train)")
    test_split: str = setting("", "'' = its usual test split (gsm8k: test)")
    question_field: str = setting("question", "jsonl: the question's field")
    answer_field: str = setting("answer", "jsonl: the answer's field")
    rationale_field: str = setting("", "jsonl: a rationale (text with one step a line, "
                                   "or a list); '' = none")
    answer_type: str = setting("", "jsonl: how answers are compared ('' = text)")
    skip_malformed: bool = setting(False, "skip (and log) unreadable items instead of "
                                   "stopping")


@dataclass
class StudentConfig:
    """The small model being taught: what it is, how it samples and how it trains."""

    kind: str = setting("tiny", "tiny (built from a config, trained from scratch) or hf "
                        "(a pretrained causal LM)")
    hidden_size: int = setting(96, "tiny: hidden size")
    layers: int = setting(3, "tiny: transformer layers")
    heads: int = setting(4, "tiny: attention heads")
    vocab_size: int = setting(512, "tiny: BPE vocabulary trained on the task's text")
    max_length: int = setting(256, "tiny: longest sequence (prompt + explanation), in "
                              "tokens")
    samples: int = setting(4, "K: explanations sampled per candidate question")
    temperature: float = setting(1.0, "sampling temperature of the K explanations")
    max_new_tokens: int = setting(96, "longest explanation generated, in tokens")
    batch_size: int = setting(256, "sequences per generation batch (teacher-forced "
                              "scoring: a quarter)")
    train_batch_size: int = setting(32, "sequences per optimizer step")
    learning_rate: float = setting(3e-3, "peak learning rate (AdamW, warmup, cosine)")
    train_steps: int = setting(40, "optimizer steps per round, over all targets so far "
                               "(at least)")
    train_epochs: float = setting(24.0, "or as many as this many passes over the targets "
                                  "take")
    seed_train_steps: int = setting(300, "steps after the seed round (a tiny student "
                                    "starts from scratch)")
    # pretrained students (kind = "hf"); see student/pretrained.py
    model: str = setting("", "hf: a hub name, a local path, or the preset gemma-3-270m")
    chat_template: bool = setting(False, "hf: prompts in the model's chat template (else "
                                  "'Q: <question>\\nA:\\n' after bos)")
    finetune: str = setting("lora", "hf: LoRA adapters or full fine-tuning (tiny "
                            "students always train in full)")
    lora_rank: int = setting(16, "LoRA rank r")
    lora_alpha: float = setting(32.0, "LoRA alpha (the update is scaled by alpha / r)")
    lora_dropout: float = setting(0.05, "LoRA dropout")
    lora_targets: list[str] = setting(["all-linear"], "LoRA target modules (all-linear = "
                                      "every linear layer but the output)")
    dtype: str = setting("auto", "weights' dtype: auto = bfloat16 on a GPU, else float32")
    device: str = setting("auto", "auto (cuda if there is one), cpu, cuda, cuda:1, ...")
    backend: str = setting("auto", "sampling and scoring: auto = vllm if it and a GPU "
                           "are there, else hf")


@dataclass
class TeacherConfig:
    """The model paid to annotate and revise: its kind, server and prices."""

    kind: str = setting("oracle", "oracle (synthetic tasks), reference (dataset "
                        "rationales) or openai (any OpenAI-compatible server)")
    model: str = setting("gpt-4o", "the model asked (openai) and priced (every teacher)")
    base_url: str = setting("https://api.openai.com/v1", "openai: the server's base URL")
    api_key_env: str = setting("OPENAI_API_KEY", "environment variable with the API key; "
                               "'' = none")
    temperature: float = setting(0.0, "openai: sampling temperature")
    max_output_tokens: int = setting(128, "sent as the token limit; the worst case "
                                     "reserved from the budget")
    concurrency: int = setting(8, "requests in flight")
    timeout_s: float = setting(60.0, "seconds per request")
    max_retries: int = setting(5, "retries per request on 429, 5xx, timeouts and broken "
                               "replies")
    max_invalid: int = setting(2, "re-asks after a reply that fails validation")
    structured_output: str = setting("json_schema", "how JSON replies are asked for")
    token_limit_param: str = setting("max_tokens", "max_completion_tokens for reasoning "
                                     "models")
    price_input_per_mtok: float = setting(-1.0, "dollars per million input tokens; -1 = "
                                          "the price table's for teacher.model")
    price_output_per_mtok: float = setting(-1.0, "dollars per million output tokens; -1 "
                                           "= the price table's")
    noise: float = setting(0.0, "oracle: fraction of replies given one wrong step")
    batch: bool = setting(False, "openai: send a round's requests as one batch of "
                          "OpenAI's Batch API (teacher/batch.py), at the batch price")
    batch_price_factor: float = setting(0.5, "batch price / standard price (0.5 at "
                                        "OpenAI)")
    batch_wait: bool = setting(True, "poll until the batch is done; false: exit, and a "
                               "rerun collects it")
    batch_poll_s: float = setting(60.0, "the longest wait between two polls of a batch")


@dataclass
class ScaleConfig:
    """Where a round's heavy steps run; never what they compute (a run directory may be
    resumed with other settings here). See ray_scoring.py and launch.py."""

    engine: str = setting("local", "where round steps 1-2 (explain, score) run: local or "
                          "ray")
    ray_address: str = setting("", "a Ray cluster; '' = $RAY_ADDRESS, else a local one is "
                               "started")
    workers: int = setting(2, "Ray actors, each holding the round's student")
    cpus_per_worker: float = setting(1.0, "CPUs each Ray actor asks for")
    gpus_per_worker: float = setting(0.0, "GPUs each Ray actor asks for (1: its own GPU, "
                                     "vLLM there if installed)")
    batch_questions: int = setting(32, "candidates per Ray Data batch (one call of an "
                                   "actor)")
    train_processes: int = setting(1, "> 1: each round's training is an `accelerate "
                                   "launch` job of this many processes")
    accelerate_config: str = setting("", "that job's accelerate config file (DDP, FSDP, "
                                     "DeepSpeed)")


@dataclass
class RunConfig:
    """A run: the method's settings (the top-level keys) and its three sections."""

    seed: int = setting(0, "seeds every random choice (pool, selection, training)")
    strategy: str = setting("elad", "how questions are ranked for the teacher: elad (the "
                            "paper's uncertainty), adaptive (coverage of the pool mixed "
                            "with it by the student's competence), or a baseline")
    mode: str = setting("auto", "revise the student's explanation, annotate from "
                        "scratch (the baseline), or auto: per question, whichever is "
                        "expected to cost less")
    alpha: float = setting(0.5, "weight of intra- vs inter-explanation uncertainty in "
                           "u(q)")
    seed_size: int = setting(100, "b0: random questions annotated in round 0")
    round_size: int = setting(50, "b: questions sent to the teacher per round")
    candidates: int = setting(400, "m: pool questions the student explains per round")
    budget_usd: float = setting(0.25, "dollars the teacher may be paid, never exceeded")
    saturation: float = setting(0.9, "theta: stop when the teacher confirms this fraction "
                                "of a round")
    max_rounds: int = setting(4, "rounds after the seed round")
    stop_gain_per_usd: float = setting(0.0, "stop when the forecast says the next round "
                                       "buys less than this much accuracy per dollar "
                                       "(0.05: five points per $), with 90% confidence; "
                                       "0 = off")
    hint: bool = setting(True, "tell the teacher the student's least stable step")
    max_similarity: float = setting(1.0, "diversity filter: cosine similarity of student "
                                    "representations above which a question is skipped; "
                                    "1 = off")
    error_threshold: float = setting(0.9, "a step in which the student gave a token less "
                                     "than this probability is predicted to be its first "
                                     "wrong one (mode=auto, cost_aware)")
    explore: float = setting(0.0, "share of each round's questions drawn at random from "
                             "the candidates, the rest by the strategy: the student also "
                             "learns where it is wrong but sure")
    cost_aware: bool = setting(False, "rank by the strategy's value per expected teacher "
                               "dollar")
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


CHOICES = {
    "strategy": STRATEGIES,
    "mode": ("revise", "annotate", "auto"),
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
    "stop_gain_per_usd": Range(0),
    "error_threshold": Range(0, 1, low_open=True),
    "explore": Range(0, 1),
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
    "student.train_epochs": Range(0),
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
    "teacher.batch_price_factor": Range(0),
    "teacher.batch_poll_s": POSITIVE,
    "scale.workers": Range(1),
    "scale.cpus_per_worker": Range(0),
    "scale.gpus_per_worker": Range(0),
    "scale.batch_questions": Range(1),
    "scale.train_processes": Range(1),
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
        ("teacher.batch", not config.teacher.batch or config.teacher.kind == "openai",
         "needs teacher.kind=openai (OpenAI's Batch API)"),
        ("report_to", not (unknown := set(config.report_to) - set(TRACKERS)),
         f"names {', '.join(sorted(unknown))}; known: {', '.join(TRACKERS)}"),
        ("report_to", not (missing := [n for n in config.report_to if find_spec(n) is None]),
         f"names {', '.join(missing)}, not installed (pip install {' '.join(missing)})"),
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
