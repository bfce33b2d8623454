"""Run configuration: dataclasses with defaults that run, a TOML file, key=value overrides.

    elad run my.toml strategy=random student.samples=8

A section name given a plain value sets that section's `kind` (`teacher=oracle`). An
unknown key or a bad value raises ConfigError with a one-line message naming it. Each
field's default, one line of help, and its choices or range are set together (`setting`);
config_checks.py checks them, `elad config` prints them (config_help.py). The `[scale]`
section says where the work runs (a Ray cluster, an accelerate launch), not what it
computes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from elad.config_checks import TRACKERS as TRACKERS  # re-exported: report_to's names
from elad.config_checks import ConfigError, Range, validate
from elad.strategies import STRATEGIES


POSITIVE = Range(0, low_open=True)
MAX_TOKENS = 1_000_000  # ceilings: a longer limit is a typo, and would overflow later
MAX_USD = 1_000_000.0
MAX_PRICE = 10_000.0  # dollars per million tokens
MAX_SECONDS = 86_400.0


def setting(default: Any, about: str, choices: tuple = (),
            within: Range | None = None) -> Any:
    """A config field: its default, the one line of help `elad config` prints, and what
    it may be: one of `choices` (each item, for a list) or a number `within` a Range, in
    the field's metadata (config_checks.py checks them). A list default is copied for
    each config."""
    metadata = {"help": about}
    if choices:
        metadata["choices"] = tuple(choices)
    if within is not None:
        metadata["range"] = within
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class ScaleError(RuntimeError):
    """Work sent elsewhere (a Ray cluster, an accelerate launch) failed; the message says
    where and that a rerun resumes."""


@dataclass
class TaskConfig:
    """Where the questions come from."""

    kind: str = setting("synthetic", "the questions: built-in synthetic tasks or a dataset",
                        choices=("synthetic", "gsm8k", "svamp", "aqua", "strategyqa",
                                 "jsonl"))
    families: list[str] = setting(["arithmetic", "coin_flip", "largest"],
                                  "synthetic: the task families mixed in the pool",
                                  choices=("arithmetic", "coin_flip", "largest"))
    min_steps: int = setting(1, "synthetic: the fewest steps of a question's chain (1 = "
                             "every length; a warm student's target needs 3)",
                             within=Range(1, 5))
    pool_size: int = setting(3000, "unlabeled pool questions drawn (seeded)",
                             within=Range(1, 10_000_000))
    test_size: int = setting(300, "held-out test questions drawn (seeded)",
                             within=Range(1, 10_000_000))
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
    answer_type: str = setting("", "jsonl: how answers are compared ('' = text)",
                               choices=("", "number", "choice", "yesno", "label", "text"))
    skip_malformed: bool = setting(False, "skip (and log) unreadable items instead of "
                                   "stopping")


@dataclass
class StudentConfig:
    """The small model being taught: what it is, how it samples and how it trains."""

    kind: str = setting("tiny", "tiny (built from a config, trained from scratch) or hf "
                        "(a pretrained causal LM)",
                        choices=("tiny", "hf"))
    hidden_size: int = setting(96, "tiny: hidden size",
                               within=Range(1))
    layers: int = setting(3, "tiny: transformer layers",
                          within=Range(1))
    heads: int = setting(4, "tiny: attention heads",
                         within=Range(1))
    vocab_size: int = setting(512, "tiny: BPE vocabulary trained on the task's text",
                              within=Range(1, MAX_TOKENS))
    max_length: int = setting(256, "tiny: longest sequence (prompt + explanation), in "
                              "tokens",
                              within=Range(1, MAX_TOKENS))
    samples: int = setting(4, "K: explanations sampled per candidate question",
                           within=Range(1))
    temperature: float = setting(1.0, "sampling temperature of the K explanations",
                                 within=POSITIVE)
    max_new_tokens: int = setting(96, "longest explanation generated, in tokens",
                                  within=Range(1, MAX_TOKENS))
    batch_size: int = setting(256, "sequences per generation batch (teacher-forced "
                              "scoring: a quarter)",
                              within=Range(1))
    train_batch_size: int = setting(32, "sequences per optimizer step",
                                    within=Range(1))
    learning_rate: float = setting(3e-3, "peak learning rate (AdamW, warmup, cosine)",
                                   within=POSITIVE)
    train_steps: int = setting(40, "optimizer steps per round, over all targets so far "
                               "(at least)",
                               within=Range(1))
    train_epochs: float = setting(24.0, "or as many as this many passes over the targets "
                                  "take",
                                  within=Range(0))
    seed_train_steps: int = setting(300, "steps after the seed round (a tiny student "
                                    "starts from scratch)",
                                    within=Range(1))
    warmup: str = setting("none", "tiny: none (trained from scratch: cold) or curriculum "
                          "(first trained on the synthetic tasks' 1-2 step chains at no "
                          "teacher cost, once, cached in $ELAD_CACHE: warm)",
                          choices=("none", "curriculum"))
    # pretrained students (kind = "hf"); see student/pretrained.py
    model: str = setting("", "hf: a hub name, a local path, or the preset gemma-3-270m")
    chat_template: bool = setting(False, "hf: prompts in the model's chat template (else "
                                  "'Q: <question>\\nA:\\n' after bos)")
    finetune: str = setting("lora", "hf: LoRA adapters or full fine-tuning (tiny "
                            "students always train in full)",
                            choices=("lora", "full"))
    lora_rank: int = setting(16, "LoRA rank r",
                             within=Range(1))
    lora_alpha: float = setting(32.0, "LoRA alpha (the update is scaled by alpha / r)",
                                within=POSITIVE)
    lora_dropout: float = setting(0.05, "LoRA dropout",
                                  within=Range(0, 1, high_open=True))
    lora_targets: list[str] = setting(["all-linear"], "LoRA target modules (all-linear = "
                                      "every linear layer but the output)")
    dtype: str = setting("auto", "weights' dtype: auto = bfloat16 on a GPU, else float32",
                         choices=("auto", "float32", "bfloat16", "float16"))
    device: str = setting("auto", "auto (cuda if there is one), cpu, cuda, cuda:1, ...")
    backend: str = setting("auto", "sampling and scoring: auto = vllm if it and a GPU "
                           "are there, else hf",
                           choices=("auto", "hf", "vllm"))


@dataclass
class TeacherConfig:
    """The model paid to annotate and revise: its kind, server and prices."""

    kind: str = setting("oracle", "oracle (synthetic tasks), reference (dataset "
                        "rationales) or openai (any OpenAI-compatible server)",
                        choices=("oracle", "reference", "openai"))
    model: str = setting("gpt-4o", "the model asked (openai) and priced (every teacher)")
    base_url: str = setting("https://api.openai.com/v1", "openai: the server's base URL")
    api_key_env: str = setting("OPENAI_API_KEY", "environment variable with the API key; "
                               "'' = none")
    temperature: float = setting(0.0, "openai: sampling temperature",
                                 within=Range(0, 2))
    max_output_tokens: int = setting(128, "sent as the token limit; the worst case "
                                     "reserved from the budget",
                                     within=Range(1, MAX_TOKENS))
    concurrency: int = setting(8, "requests in flight",
                               within=Range(1, 10_000))
    timeout_s: float = setting(60.0, "seconds per request",
                               within=Range(0, MAX_SECONDS, low_open=True))
    max_retries: int = setting(5, "retries per request on 429, 5xx, timeouts and broken "
                               "replies",
                               within=Range(0, 100))
    max_invalid: int = setting(2, "re-asks after a reply that fails validation",
                               within=Range(0, 100))
    structured_output: str = setting("json_schema", "how JSON replies are asked for",
                                     choices=("json_schema", "json_object_schema",
                                              "json_object", "none"))
    token_limit_param: str = setting("max_tokens", "max_completion_tokens for reasoning "
                                     "models",
                                     choices=("max_tokens", "max_completion_tokens"))
    price_input_per_mtok: float = setting(-1.0, "dollars per million input tokens; -1 = "
                                          "the price table's for teacher.model",
                                          within=Range(0, MAX_PRICE, also=-1))
    price_output_per_mtok: float = setting(-1.0, "dollars per million output tokens; -1 "
                                           "= the price table's",
                                           within=Range(0, MAX_PRICE, also=-1))
    noise: float = setting(0.0, "oracle: fraction of replies given one wrong step",
                           within=Range(0, 1))
    batch: bool = setting(False, "openai: send a round's requests as one batch of "
                          "OpenAI's Batch API (teacher/batch.py), at the batch price")
    batch_price_factor: float = setting(0.5, "batch price / standard price (0.5 at "
                                        "OpenAI)",
                                        within=Range(0))
    batch_wait: bool = setting(True, "poll until the batch is done; false: exit, and a "
                               "rerun collects it")
    batch_poll_s: float = setting(60.0, "the longest wait between two polls of a batch",
                                  within=Range(0, MAX_SECONDS, low_open=True))


@dataclass
class ScaleConfig:
    """Where a round's heavy steps run; never what they compute (a run directory may be
    resumed with other settings here). See ray_scoring.py and launch.py."""

    engine: str = setting("local", "where round steps 1-2 (explain, score) run: local or "
                          "ray",
                          choices=("local", "ray"))
    ray_address: str = setting("", "a Ray cluster; '' = $RAY_ADDRESS, else a local one is "
                               "started")
    workers: int = setting(2, "Ray actors, each holding the round's student",
                           within=Range(1))
    cpus_per_worker: float = setting(1.0, "CPUs each Ray actor asks for",
                                     within=Range(0))
    gpus_per_worker: float = setting(0.0, "GPUs each Ray actor asks for (1: its own GPU, "
                                     "vLLM there if installed)",
                                     within=Range(0))
    batch_questions: int = setting(32, "candidates per Ray Data batch (one call of an "
                                   "actor)",
                                   within=Range(1))
    train_processes: int = setting(1, "> 1: each round's training is an `accelerate "
                                   "launch` job of this many processes",
                                   within=Range(1))
    accelerate_config: str = setting("", "that job's accelerate config file (DDP, FSDP, "
                                     "DeepSpeed)")


@dataclass
class RunConfig:
    """A run: the method's settings (the top-level keys) and its three sections."""

    seed: int = setting(0, "seeds every random choice (pool, selection, training)",
                        within=Range())
    strategy: str = setting("elad", "how questions are ranked for the teacher: elad (the "
                            "paper's uncertainty), adaptive (coverage of the pool mixed "
                            "with it by the student's competence), or a baseline",
                            choices=STRATEGIES)
    mode: str = setting("auto", "revise the student's explanation, annotate from "
                        "scratch (the baseline), or auto: per question, whichever is "
                        "expected to cost less",
                        choices=("revise", "annotate", "auto"))
    alpha: float = setting(0.5, "weight of intra- vs inter-explanation uncertainty in "
                           "u(q)",
                           within=Range(0, 1))
    seed_size: int = setting(100, "b0: random questions annotated in round 0",
                             within=Range(1))
    round_size: int = setting(50, "b: questions sent to the teacher per round",
                              within=Range(1))
    candidates: int = setting(400, "m: pool questions the student explains per round",
                              within=Range(1))
    budget_usd: float = setting(0.25, "dollars the teacher may be paid, never exceeded",
                                within=Range(0, MAX_USD, low_open=True))
    saturation: float = setting(0.9, "theta: stop when the teacher confirms this fraction "
                                "of a round",
                                within=Range(0, 1, low_open=True))
    max_rounds: int = setting(4, "rounds after the seed round",
                              within=Range(0))
    stop_gain_per_usd: float = setting(0.0, "stop when the forecast says the next round "
                                       "buys less than this much accuracy per dollar "
                                       "(0.05: five points per $), with 90% confidence; "
                                       "0 = off",
                                       within=Range(0))
    hint: bool = setting(True, "tell the teacher the student's least stable step")
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


def load_config(path: Path | None = None, overrides: list[str] = (),
                base: RunConfig | None = None) -> RunConfig:
    """The defaults (or `base`: a run directory's stored config), then the TOML file's
    keys (if any), then key=value overrides, then validation."""
    config = copy.deepcopy(base) if base is not None else RunConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
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
        for key, value in data.items():
            _set(config, key, value, str(path))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        _set(config, key.strip(), value.strip(), "override")
    return validate(config)


def choices(key: str) -> tuple:
    """The values a dotted key ("student.kind") may take, () if any of its type."""
    *sections, name = key.split(".")
    target = RunConfig()
    for part in sections:
        target = getattr(target, part)
    return {f.name: f for f in dataclasses.fields(target)}[name].metadata.get("choices", ())


def config_from_dict(data: dict) -> RunConfig:
    """A config from a dict shaped like a config file (sections as nested dicts), on
    the defaults, validated (the Python API's `elad.run`)."""
    config = RunConfig()
    for key, value in data.items():
        _set(config, key, value, "config")
    return validate(config)


def config_from_json(text: str) -> RunConfig:
    """Rebuild a RunConfig saved with `to_json` (the run store keeps one)."""
    config = RunConfig()
    for key, value in json.loads(text).items():
        _set(config, key, value, "stored config")
    return config
