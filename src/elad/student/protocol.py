"""What the loop, the scorer and the evaluation ask of a student.

`HFStudent` (transformers, any device) and `VLLMStudent` (sampling and scoring in vLLM)
implement it; `explain.py`, `evaluate.py` and `loop.py` depend on this, not on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import torch


class Generation(NamedTuple):
    """One generated explanation: its text, the mean log-probability of its tokens, and
    for each line of the text (split on newlines) the log-probability of its least
    likely token (0 for a line with none): where the student was unsure as it wrote."""

    text: str
    mean_logprob: float
    line_min_logprobs: tuple[float, ...] = ()


class Student(Protocol):
    name: str

    def generate(self, questions: list[str], k: int = 1, temperature: float = 0.0,
                 seed: int = 0) -> list[list[Generation]]:
        """k explanations per question (temperature 0: greedy); the log-probabilities
        are the model's own, whatever the temperature the tokens were drawn at."""

    def answer_probabilities(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        """p(answer | question, steps, answer cue) for each (question, steps, answer)."""

    def embed(self, questions: list[str]) -> torch.Tensor:
        """One unit vector per question (what the diversity filter compares)."""

    def train(self, pairs: list[tuple[str, str]], steps: int, lr: float, seed: int,
              batch_size: int = 32) -> dict:
        """Fine-tune on (question, explanation text) pairs; returns training metrics."""

    def save(self, directory: Path) -> None:
        """Write what `student.load_student` needs to get this student back."""
