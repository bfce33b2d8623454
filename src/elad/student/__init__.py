"""Students: the small models being taught (the `Student` protocol, protocol.py). Each is
an `HFStudent`: a tiny Llama trained from scratch (`student.kind=tiny`, the offline
default) or a pretrained causal LM with LoRA (`student.kind=hf`, see pretrained.py),
wrapped in a `VLLMStudent` for sampling and scoring when vLLM and a GPU are there
(vllm.py)."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError

from elad.config import ConfigError, StudentConfig
from elad.config_checks import missing_folder
from elad.rundir import CheckpointError, unreadable
from elad.student.hf import HFStudent, set_greedy_generation
from elad.student.protocol import Student
from elad.student.tiny import build_tiny_student, exported_tokenizer, tiny_name


def _options(config: StudentConfig) -> dict:
    return dict(batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)


def new_student(config: StudentConfig, corpus: list[str], seed: int) -> Student:
    """A fresh student: a tiny one with a tokenizer fitted to `corpus` (or the warm
    tiny one, student/warm.py), or the pretrained base model with a new adapter."""
    if config.kind == "hf":
        from elad.student.pretrained import new_pretrained_student
        from elad.student.vllm import maybe_vllm

        return maybe_vllm(config, new_pretrained_student(config, seed))
    if config.warmup == "curriculum":  # the warm student: its own tokenizer covers
        from elad.student.warm import warm_student  # every synthetic task's words

        return warm_student(config)
    return build_tiny_student(corpus, config, seed)


def check_student(config: StudentConfig) -> None:
    """A ConfigError now if the student cannot be made (a pretrained base model that is
    not there, `backend=vllm` where vLLM cannot run it), rather than after the seed
    round's teacher replies are paid for."""
    if config.kind == "hf":
        from elad.student.pretrained import check_base
        from elad.student.vllm import vllm_usable

        check_base(config)
        vllm_usable(config)


def load_student(config: StudentConfig, directory: Path, gpu_share: float = 1.0
                 ) -> Student:
    """The student saved in `directory`; `gpu_share`: the part of the GPU this process
    may take (a Ray actor's `scale.gpus_per_worker`), what vLLM's engine takes half of.
    A missing or damaged folder is a CheckpointError saying so (`read_student`)."""
    from elad.student.vllm import maybe_vllm

    student = read_student(config, directory)
    return maybe_vllm(config, student, gpu_share) if config.kind == "hf" else student


def read_student(config: StudentConfig, directory: Path) -> HFStudent:
    """The student saved in `directory`, in transformers. A missing or damaged folder
    (or a base model that cannot be found) is a CheckpointError saying so, not a
    library's traceback (a missing path was even looked up on the Hugging Face hub)."""
    if not directory.is_dir():
        raise CheckpointError(unreadable(directory, "is missing"))
    if missing := missing_folder(config, config.model):  # the base, not the round
        raise ConfigError(f"student.model{missing}")
    from elad.student.pretrained import load_pretrained_student

    name = tiny_name(config.hidden_size, config.layers)
    try:
        student = (load_pretrained_student(config, directory) if config.kind == "hf"
                   else HFStudent.load(directory, name=name, **_options(config)))
    except ConfigError:  # a setting's error, which says itself what to change
        raise
    except (OSError, ValueError, SafetensorError) as error:  # a file missing or damaged
        raise CheckpointError(unreadable(directory, f"cannot be read ({error})")) from error
    return student


def export_student(config: StudentConfig, directory: Path, out: Path,
                   merged: bool = True) -> str | None:
    """Write the student saved in `directory` to `out` as a standalone Hugging Face model
    folder (AutoModelForCausalLM + AutoTokenizer load it), or, for a LoRA student with
    `merged=False`, as its adapter alone. The folder decodes as the evaluation did
    (greedy, the student's end tokens); a plain student's tokenizer adds the bos token
    and has the plain prompt as its chat template. Returns the bos token (None if the
    model has none), what the model card needs to write the exact prompt."""
    student = read_student(config, directory)
    if config.kind == "hf":
        from elad.student.pretrained import export_pretrained

        return export_pretrained(config, student, out, merged)
    set_greedy_generation(student.model, student.format, config.max_new_tokens)
    student.model.save_pretrained(out)
    tokenizer = exported_tokenizer(student.tokenizer,
                                   student.model.config.max_position_embeddings)
    tokenizer.save_pretrained(out)
    return tokenizer.bos_token
