"""The warm student's curriculum: what the tiny student learns, at no teacher cost,
before a run, as a stand-in for a pretrained model's prior knowledge
(docs/concepts.md, "Cold and warm students").

It holds the synthetic families' short chains (1 to 3 operations, 1 to 3 coin flips, the
largest of 2 to 4 digits) with their exact solutions, and *beginnings*: longer questions
(4 steps and up) with only their first 3 steps, no answer line and no end token. So the
student knows the format, the words and how every chain starts, and has never written a
4th step: on long target questions it starts right and goes wrong late, as a pretrained
model does where its skill runs out (some short target questions are curriculum
questions too, as a pretrained model has seen easy instances). What it answers, and
where it goes wrong, before and after the seed round: BENCHMARKS.md, "Measurements behind
design choices", and benchmarks/warm_regime.py.
"""

from __future__ import annotations

import random

from elad.answers import format_explanation
from elad.tasks import synthetic

STEPS = (1, 3)  # the curriculum's chain lengths; the target's go to 5 or 6


def curriculum(size: int, seed: int, beginnings: int = 0) -> list[tuple[str, str]]:
    """`size` distinct (question, explanation text) pairs of short chains, then
    `beginnings` of longer questions with their first steps only (beginning()), each
    evenly over the synthetic families (fewer where a family has too few questions)."""
    rng = random.Random(f"curriculum-{seed}")
    seen: set[str] = set()
    short = distinct_questions(size, rng, seen, *STEPS)
    long = distinct_questions(beginnings, rng, seen, STEPS[1] + 1, None)
    return ([(q, format_explanation(*synthetic.solve(q))) for q in short]
            + [(q, beginning(synthetic.solve(q)[0])) for q in long])


def distinct_questions(count: int, rng: random.Random, seen: set[str], low: int,
                       high: int | None) -> list[str]:
    """`count` questions of `low` to `high` steps not in `seen` (added there), the
    families in turn."""
    questions: list[str] = []
    for attempt in range(50 * count):
        if len(questions) >= count:
            break
        family = synthetic.FAMILIES[attempt % len(synthetic.FAMILIES)]
        question = synthetic.make_question(family, rng, low, high)
        if question not in seen:
            seen.add(question)
            questions.append(question)
    return questions


def beginning(steps: list[str]) -> str:
    """A chain's first STEPS[1] steps, each ending its line, and no answer line: the
    student is taught how the chain starts, not what comes after (its training example
    has no end token: HFStudent.training_examples)."""
    return "".join(f"{step}\n" for step in steps[:STEPS[1]])


def tokenizer_corpus(pairs: list[tuple[str, str]], size: int, seed: int) -> list[str]:
    """The curriculum's text plus `size` questions of every length with their
    solutions (drawn apart from any pool), so the tokenizer knows every word the target
    tasks use ("Fifth", names), not only the curriculum's."""
    rng = random.Random(f"curriculum-corpus-{seed}")
    texts = [text for pair in pairs for text in pair]
    for i in range(size):
        question = synthetic.make_question(synthetic.FAMILIES[i % len(synthetic.FAMILIES)],
                                           rng)
        texts += [question, format_explanation(*synthetic.solve(question))]
    return texts
