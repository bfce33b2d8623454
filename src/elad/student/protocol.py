"""What the loop, the scorer and the evaluation ask of a student.

`HFStudent` (transformers, any device) and `VLLMStudent` (sampling and scoring in vLLM)
implement it; `explain.py`, `evaluate.py` and `loop.py` depend on this, not on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Student(Protocol):
    name: str

    def generate(self, questions: list[str], k: int = 1, temperature: float = 0.0,
                 seed: int = 0) -> list[list[tuple[str, float]]]:
        """k explanations per question (temperature 0: greedy), each with its mean
        token log-probability."""

    def answer_probabilities(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        """p(answer | question, steps, answer cue) for each (question, steps, answer)."""

    def embed(self, questions: list[str]) -> torch.Tensor:
        """One unit vector per question (what the diversity filter compares)."""

    def train(self, pairs: list[tuple[str, str]], steps: int, lr: float, seed: int,
              batch_size: int = 32) -> dict:
        """Fine-tune on (question, explanation text) pairs; returns training metrics."""

    def save(self, directory: Path) -> None:
        """Write what `student.load_student` needs to get this student back."""
