"""What the teacher costs: token counting, prices, and the hard budget.

Costs are in dollars: input and output tokens times the configured price per million.
Teachers that run no real LLM (the oracle) count tokens with `count_tokens`, a regex
approximation of GPT-style BPE tokenizers: each word, each run of up to three digits,
and each other non-space character is one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Prices:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@dataclass
class Budget:
    """Dollars allowed, spent and reserved. A request is made only if its worst-case cost
    fits in what is left, so the budget is never exceeded."""

    limit: float
    spent: float = 0.0

    @property
    def left(self) -> float:
        return self.limit - self.spent

    def fits(self, worst_case: float) -> bool:
        return worst_case <= self.left + 1e-12

    def charge(self, cost: float) -> None:
        self.spent += cost
