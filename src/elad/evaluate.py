"""Step 6 of a round: greedy accuracy of the student on the held-out test split."""

from __future__ import annotations

from collections import defaultdict

from elad.explain import explain
from elad.student.protocol import Student
from elad.types import Example


def accuracy(student: Student, test: list[Example], answer_type) -> tuple[float, dict]:
    """Overall accuracy and accuracy per task family."""
    greedy = explain(student, test, answer_type, k=1, temperature=0.0, seed=0)
    right: dict[str, list[bool]] = defaultdict(list)
    for example in test:
        right[example.task].append(greedy[example.id][0].answer == example.answer)
    everything = [r for results in right.values() for r in results]
    by_task = {task: round(sum(r) / len(r), 4) for task, r in sorted(right.items())}
    return sum(everything) / len(everything), by_task
