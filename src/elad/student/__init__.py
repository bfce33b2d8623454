"""Students: the small models being taught. All of them are `HFStudent`s."""

from __future__ import annotations

from pathlib import Path

from elad.config import StudentConfig
from elad.student.hf import HFStudent
from elad.student.tiny import build_tiny_student, tiny_name


def _options(config: StudentConfig, show_progress: bool) -> dict:
    return dict(batch_size=config.batch_size, max_new_tokens=config.max_new_tokens,
                show_progress=show_progress)


def new_student(config: StudentConfig, corpus: list[str], seed: int,
                show_progress: bool = False) -> HFStudent:
    """A fresh student whose tokenizer is fitted to `corpus`."""
    return build_tiny_student(
        corpus, vocab_size=config.vocab_size, hidden_size=config.hidden_size,
        layers=config.layers, heads=config.heads, max_length=config.max_length, seed=seed,
        **_options(config, show_progress))


def load_student(config: StudentConfig, directory: Path,
                 show_progress: bool = False) -> HFStudent:
    return HFStudent.load(directory, name=tiny_name(config.hidden_size, config.layers),
                          **_options(config, show_progress))
