"""Built-in synthetic reasoning tasks whose exact step-by-step solutions are known.

Three families, each needing a chain of thought whose length varies (easy and hard
instances in one pool):

- arithmetic:  "Start with 7. First, subtract 5. Second, add 3. What is the result?"
                (1-5 operations)
- coin_flip:   "A coin is heads up. Ann flips it. Bob does not flip it. Is the coin
                still heads up?"  (1-6 people)
- largest:     "What is the largest of 4, 7, 2?"  (2-6 digits, compared pairwise)

Numbers are single digits (arithmetic stays within 0-9) so a tiny student trained from
scratch can learn the facts from a few hundred examples; difficulty comes from length.
A chain's steps (operations, people, comparisons) may be restricted to `min_steps` and
more: the warm student's curriculum (curriculum.py) holds the short chains and the first
steps of long ones, its target every length.

`solve(question)` recomputes the canonical steps and answer from the question text alone,
so the oracle teacher needs no hidden data. `load(...)` returns a pool whose examples
carry no answer and a test split that does; both are deterministic from the seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from elad.config_checks import ConfigError
from elad.types import Example

FAMILIES = ("arithmetic", "coin_flip", "largest")
MAX_STEPS = {"arithmetic": 5, "coin_flip": 6, "largest": 5}  # the longest chain of each
ANSWER_TYPES = {"arithmetic": "number", "coin_flip": "yesno", "largest": "number"}

_NAMES = (
    "Ann Bob Cid Dan Eve Fay Gus Hal Ivy Jan Kim Lou Max Ned Oda Pam Quin Ray Sue Tom"
).split()


@dataclass(frozen=True)
class TaskData:
    pool: list[Example]
    test: list[Example]  # empty: no labeled test question, the teacher annotates some
    pool_from: str = "synthetic questions"  # where from, for the run's log line
    test_from: str = "synthetic questions"


# --- arithmetic -----------------------------------------------------------------------

_ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth")
_ARITH_OP = re.compile(r"(\w+), (add|subtract) (\d+)\.")


def _make_arithmetic(rng: random.Random, low: int, high: int) -> str:
    value = rng.randint(0, 9)
    parts = [f"Start with {value}."]
    for ordinal in _ORDINALS[:rng.randint(low, high)]:
        add = value == 0 or (value < 9 and rng.random() < 0.5)
        amount = rng.randint(1, 9 - value) if add else rng.randint(1, value)
        parts.append(f"{ordinal}, {'add' if add else 'subtract'} {amount}.")
        value += amount if add else -amount
    parts.append("What is the result?")
    return " ".join(parts)


def _solve_arithmetic(question: str) -> tuple[list[str], str]:
    value = int(re.match(r"Start with (\d+)\.", question).group(1))
    steps = []
    for ordinal, op, amount_text in _ARITH_OP.findall(question):
        amount = int(amount_text)
        new = value + amount if op == "add" else value - amount
        sign = "+" if op == "add" else "-"
        steps.append(f"{ordinal}, {op} {amount}: {value} {sign} {amount} = {new}")
        value = new
    return steps, str(value)


# --- coin flip ------------------------------------------------------------------------

_COIN_ACT = re.compile(r"([A-Z][a-z]+) (flips it|does not flip it)\.")


def _make_coin_flip(rng: random.Random, low: int, high: int) -> str:
    names = rng.sample(_NAMES, rng.randint(low, high))
    acts = [f"{name} {rng.choice(['flips it', 'does not flip it'])}." for name in names]
    return " ".join(["A coin is heads up.", *acts, "Is the coin still heads up?"])


def _solve_coin_flip(question: str) -> tuple[list[str], str]:
    heads = True
    steps = []
    for name, act in _COIN_ACT.findall(question):
        before = "heads" if heads else "tails"
        if act == "flips it":
            heads = not heads
        steps.append(f"{before}, {name} {act}: {'heads' if heads else 'tails'}")
    return steps, "yes" if heads else "no"


# --- largest --------------------------------------------------------------------------


def _make_largest(rng: random.Random, low: int, high: int) -> str:
    numbers = [rng.randint(0, 9) for _ in range(rng.randint(low + 1, high + 1))]
    return f"What is the largest of {', '.join(map(str, numbers))}?"


def _solve_largest(question: str) -> tuple[list[str], str]:
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    best = numbers[0]
    steps = []
    for number in numbers[1:]:
        new = max(best, number)
        steps.append(f"Larger of {best} and {number}: {new}")
        best = new
    return steps, str(best)


_MAKERS = {"arithmetic": _make_arithmetic, "coin_flip": _make_coin_flip, "largest": _make_largest}
_SOLVERS = {
    "arithmetic": _solve_arithmetic,
    "coin_flip": _solve_coin_flip,
    "largest": _solve_largest,
}


def family_of(question: str) -> str:
    """Which family a question belongs to, from its text alone."""
    if question.startswith("Start with"):
        return "arithmetic"
    if question.startswith("A coin"):
        return "coin_flip"
    if question.startswith("What is the largest"):
        return "largest"
    raise ValueError(f"not a synthetic question: {question[:60]!r}")


def solve(question: str) -> tuple[list[str], str]:
    """The canonical explanation steps and the answer of a synthetic question."""
    return _SOLVERS[family_of(question)](question)


def make_question(family: str, rng: random.Random, low: int = 1,
                  high: int | None = None) -> str:
    """A random question of `family` whose chain has `low` to `high` steps (at most the
    family's longest, MAX_STEPS)."""
    high = MAX_STEPS[family] if high is None else min(high, MAX_STEPS[family])
    return _MAKERS[family](rng, min(low, high), high)


def load(families: list[str], pool_size: int, test_size: int, seed: int,
         min_steps: int = 1) -> TaskData:
    """A pool (answers hidden) and a disjoint test split, mixed evenly over `families`,
    of questions with at least `min_steps` steps (1: every length)."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown synthetic task family {unknown[0]!r}; known: {FAMILIES}")
    rng = random.Random(f"synthetic-{seed}")
    seen: set[str] = set()
    examples: list[Example] = []
    total = pool_size + test_size
    attempts = 0
    while len(examples) < total:
        attempts += 1
        if attempts > 50 * total:
            raise ConfigError(f"task.pool_size + task.test_size = {total}: cannot make that "
                              f"many distinct questions from {', '.join(families)}")
        family = families[len(examples) % len(families)]
        question = make_question(family, rng, min_steps)
        if question in seen:
            continue
        seen.add(question)
        _, answer = solve(question)
        examples.append(Example(f"{family}-{len(examples):05d}", family, question, answer))
    rng.shuffle(examples)
    pool = [Example(e.id, e.task, e.question) for e in examples[:pool_size]]
    return TaskData(pool=pool, test=examples[pool_size:])
