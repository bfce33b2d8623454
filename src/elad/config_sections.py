"""The config's sections ([task], [student], [teacher], [scale]) and `setting`, which
gives each field its default, its one line of help and its choices or range together.
config.py assembles them into a RunConfig and reads files and overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elad.config_checks import Range


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
                             "every length)",
                             within=Range(1, 5))
    pool_size: int = setting(0, "pool questions drawn (seeded); 0 = all of a file's "
                             "(synthetic: 3000)",
                             within=Range(0, 10_000_000))
    test_size: int = setting(0, "labeled test questions drawn (seeded); 0 = all of "
                             "task.test_path or the test split, up to 300 of the pool "
                             "file's labeled lines (synthetic: 300)",
                             within=Range(0, 10_000_000))
    test_path: str = setting("", "a JSON-lines file of labeled test questions (the same "
                             "field names; every line needs its answer); '' = the test "
                             "split, or the pool file's lines that have an answer")
    test_from_teacher: int = setting(0, "N pool questions held out as the test set, "
                                     "annotated by the teacher (paid out of budget_usd, "
                                     "shown apart as 'test set $'; never trained on); 0 = "
                                     "automatic: up to 100 when no labeled test question "
                                     "exists",
                                     within=Range(0, 10_000_000))
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
    options_field: str = setting("", "jsonl, answer_type choice: a list of 2 to 5 options "
                                 "(lettered A) B) ... or not), written after the question; "
                                 "'' = the question's text has them")
    labels: list[str] = setting([], "answer_type label: the classes an answer is one of, "
                                "told to the teacher, which must answer one of them "
                                "(elad init lists the test set's); [] = not told")
    skip_malformed: bool = setting(False, "skip (and log) unreadable items instead of "
                                   "stopping")


@dataclass
class StudentConfig:
    """The small model being taught: what it is, how it samples and how it trains."""

    kind: str = setting("tiny", "tiny (built from a config, trained from scratch) or hf "
                        "(a pretrained causal LM); each kind has its own defaults for "
                        "the keys a profile names (profiles.py)",
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
                              "tokens, it is built for; it grows to what it is trained "
                              "on (rotary positions: no weight per position)",
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
    warmup: str = setting("auto", "tiny: none (trained from scratch: cold) or curriculum "
                          "(first trained on the synthetic tasks' 1-3 step chains and "
                          "the beginnings of longer ones at no teacher cost, once, "
                          "cached in $ELAD_CACHE, and rehearsing them as it learns: "
                          "warm, a pretrained model's stand-in); auto = "
                          "curriculum for a tiny student on the synthetic task, else none",
                          choices=("auto", "none", "curriculum"))
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


def explains_untrained(config: StudentConfig) -> bool:
    """Whether the student can explain questions before its first training: a
    pretrained one, or the warm tiny one; not a tiny one from scratch. (Here, not in
    elad.student, so that the request planning can ask it without loading torch.)"""
    return config.kind == "hf" or config.warmup == "curriculum"


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
