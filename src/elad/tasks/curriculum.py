"""The warm student's curriculum: what the tiny student learns, at no teacher cost,
before a run, as a stand-in for a pretrained model's prior knowledge
(docs/concepts.md, "Cold and warm students").

It holds the synthetic families' short chains (1 to 3 operations, 1 to 3 coin flips, the
largest of 2 to 4 digits) with their exact solutions, so the student learns the format,
the words and the first steps. The target holds every length (up to 5 or 6 steps): the
warm student answers the short ones and fails the long ones (some short target questions
are curriculum questions too, as a pretrained model has seen easy instances). It is a
rough stand-in: it does not copy a coin flip's names reliably, and on most long
questions its first step is already wrong, where a pretrained model would go wrong
later. What it answers, and where it goes wrong, before and after the seed round:
BENCHMARKS.md, "Measurements behind design choices", and benchmarks/warm_regime.py.
"""

from __future__ import annotations

import random

from elad.answers import format_explanation
from elad.tasks import synthetic

STEPS = (1, 3)  # the curriculum's chain lengths; the target's go to 5 or 6


def curriculum(size: int, seed: int) -> list[tuple[str, str]]:
    """`size` distinct (question, explanation text) pairs of short chains, evenly over
    the synthetic families (fewer where a family has too few short questions)."""
    rng = random.Random(f"curriculum-{seed}")
    seen: set[str] = set()
    pairs = []
    for attempt in range(50 * size):
        if len(pairs) >= size:
            break
        family = synthetic.FAMILIES[attempt % len(synthetic.FAMILIES)]
        question = synthetic.make_question(family, rng, *STEPS)
        if question not in seen:
            seen.add(question)
            pairs.append((question, format_explanation(*synthetic.solve(question))))
    return pairs


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
