"""What the teacher costs: token counting, prices, and the hard budget.

Costs are in dollars: input and output tokens times the price per million tokens, taken
from the config or, when it sets none, from `PRICE_TABLE` by model name. Teachers that
run no real LLM (the oracle) count tokens with `count_tokens`, a regex approximation of
GPT-style BPE tokenizers: each word, each run of up to three digits, and each other
non-space character is one token. Real teachers report their own token counts.

The budget is hard: before a request (or a retry) is sent, its worst case (`worst_case`:
every token of the prompt a tokenizer could make, plus the output limit) is reserved
from what is left, counting every request in flight (`Allowance`).

Selection plans with what a request is expected to cost (`typical_costs`: its prompt,
and as many output tokens as the teacher's replies of that kind have had so far), so a
run spends its budget to within about one request whatever its questions cost; the
worst-case reservation above stays the hard cap for the last requests. The last round
takes what is left (`round_quota`, `stopping.fewest_left`), so runs that pay more per
question do not stop a round earlier, and runs that pay less do not end with money
unspent.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from elad.config import ConfigError, TeacherConfig
from elad.types import TeacherCall

_TOKEN = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")

# Dollars per million (input, output) tokens, from the providers' public price lists
# (standard tier, no caching or batch discounts; a batch run pays
# `teacher.batch_price_factor` of these). Check yours: prices change, and a proxy or a
# local server has its own. A longer name wins ("gpt-4o-mini" over "gpt-4o").
PRICE_TABLE: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash": (0.10, 0.40),
    "deepseek-chat": (0.27, 1.10),
}


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Prices:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


# what may follow a table name in a snapshot's name: a date ("-2024-08-06", "-20241022"),
# a version number ("-001"), "-latest" or "-preview"; not another word, so that a typo
# such as "gpt-4o-mni" is not priced as gpt-4o
SNAPSHOT = re.compile(r"-(\d+(-\d{2}-\d{2})?|latest|preview(-\d{2}-\d{2})?)")


def table_prices(model: str) -> Prices | None:
    """The price table's entry for `model` (its exact name, or a dated or versioned
    snapshot of it: "gpt-4o-2024-08-06" finds "gpt-4o"), or None."""
    name = model.rsplit("/", 1)[-1].lower()  # "openai/gpt-4o" as a proxy writes it
    known = [m for m in PRICE_TABLE if name == m or (
        name.startswith(m) and SNAPSHOT.fullmatch(name[len(m):]))]
    if not known:
        return None
    return Prices(*PRICE_TABLE[max(known, key=len)])


def teacher_prices(config: TeacherConfig) -> Prices:
    """What the run pays per token: the prices the config sets, or the table's for its
    model; with `teacher.batch`, `teacher.batch_price_factor` of them (OpenAI's Batch
    API bills half the standard price)."""
    table = table_prices(config.model)
    given = (config.price_input_per_mtok, config.price_output_per_mtok)
    if -1 in given and table is None:
        raise ConfigError(
            f"teacher.model={config.model!r} is not in the price table; set "
            "teacher.price_input_per_mtok and teacher.price_output_per_mtok (0 for free)")
    standard = (table.input_per_mtok if given[0] == -1 else given[0],
                table.output_per_mtok if given[1] == -1 else given[1])
    factor = config.batch_price_factor if config.batch else 1.0
    return Prices(standard[0] * factor, standard[1] * factor)


@dataclass
class Budget:
    """Dollars allowed, spent, and reserved for requests in flight.

    A request is sent only after its worst-case cost is reserved, and a reservation is
    made only if it fits in what is left, so the budget is never exceeded however many
    requests are in flight."""

    limit: float
    spent: float = 0.0
    reserved: float = 0.0
    holders: int = 0  # requests in flight holding a reservation (Allowance)
    stalled: int = 0  # of those, how many wait for more money than is left

    @property
    def left(self) -> float:
        return self.limit - self.spent - self.reserved

    def fits(self, worst_case: float) -> bool:
        return worst_case <= self.left + 1e-12

    def charge(self, cost: float) -> None:
        self.spent += cost

    def reserve(self, worst_case: float) -> None:
        self.reserved += worst_case

    def settle(self, reserved: float, cost: float) -> None:
        """A request in flight has finished: free its reservation, charge what it cost."""
        self.reserved -= reserved
        self.spent += cost


class Priced(Protocol):
    """What `typical_costs` reads of a teacher request."""

    op: str
    prompt: str


def mean_output_tokens(calls: list[TeacherCall]) -> dict[str, float]:
    """op -> mean output tokens of the usable replies among `calls` (RunStore.teacher_calls)."""
    totals: dict[str, list[int]] = {}
    for call in calls:
        if call.ok:
            totals.setdefault(call.op, []).append(call.output_tokens)
    return {op: sum(tokens) / len(tokens) for op, tokens in totals.items()}


def typical_costs(requests: dict[str, Priced], calls: list[TeacherCall],
                  prices: Prices) -> dict[str, float]:
    """Question id -> the dollars its request typically costs: its prompt counted as
    `count_tokens` does, and the mean output of the replies of its kind so far; a kind
    never replied to yet is left out (it is counted at its worst case). What selection
    plans a round's money with (asking.expected_cost predicts one reply from the
    student's own explanation instead, to choose between annotate and revise)."""
    outputs = mean_output_tokens(calls)
    return {qid: prices.cost(count_tokens(r.prompt), round(outputs[r.op]))
            for qid, r in requests.items() if r.op in outputs}


def round_quota(round_size: int, fewest: int, left: float, per_request: float) -> int:
    """How many questions this round may take: `round_size`, or, when what would be left
    after it could not pay for `fewest` requests (the run would stop there), no limit
    but the budget: the last round takes the rest instead of leaving it unspent."""
    if per_request <= 0 or left - round_size * per_request >= fewest * per_request:
        return round_size
    return sys.maxsize


def mean_cost(calls: list[TeacherCall]) -> float | None:
    """The mean dollars of the usable calls among `calls`; None when there is none."""
    costs = [call.cost_usd for call in calls if call.ok]
    return sum(costs) / len(costs) if costs else None


class Billed(Protocol):
    """What a teacher says about how much one request can cost at most."""

    max_output_tokens: int

    def worst_case_input_tokens(self, prompt: str) -> int: ...


def worst_case(teacher: Billed, prompt: str) -> tuple[int, int]:
    """The most (input, output) tokens `teacher` can bill for one request of `prompt`."""
    return teacher.worst_case_input_tokens(prompt), teacher.max_output_tokens


class Allowance:
    """One request's share of the budget. Its first attempt's worst case is reserved
    before the teacher is called; a teacher that retries calls `ensure` before each
    further attempt and `use` for what each attempt was billed, so a request never holds
    less than the worst case of the attempt it is about to send."""

    def __init__(self, budget: Budget, prices: Prices, settled: asyncio.Condition,
                 stopping: asyncio.Event | None = None):
        self.budget = budget
        self.prices = prices
        self.settled = settled
        self.stopping = stopping  # set when the run stops: no attempt is sent after it
        self.reserved = 0.0
        self.used_usd = 0.0
        # called with `reserved` each time it grows, before the attempt is sent: the
        # gateway commits it to the store's write-ahead ledger (store.send_ahead)
        self.on_hold: Callable[[float], None] = lambda reserved: None

    async def ensure(self, input_tokens: int, output_tokens: int) -> bool:
        """Hold at least this attempt's worst case; False if that cannot fit even when
        every other request in flight has settled. Cancels the request when the run is
        stopping (Ctrl-C, a teacher error): what is in flight is waited for, nothing new
        is sent, not even a retry."""
        if self.stopping is not None and self.stopping.is_set():
            self.keep_used()
            raise asyncio.CancelledError
        needed = self.prices.cost(input_tokens, output_tokens) - (self.reserved - self.used_usd)
        if needed <= 0:
            return True
        async with self.settled:
            holding = self.reserved > 0
            self.budget.stalled += holding
            try:  # until it fits, or no request that holds money can free any
                await self.settled.wait_for(
                    lambda: self.budget.fits(needed)
                    or self.budget.reserved - self.reserved <= 1e-12
                    or self.budget.stalled >= self.budget.holders > 0)
            finally:
                self.budget.stalled -= holding
            if not self.budget.fits(needed):
                return False
            self.budget.reserve(needed)
            self.budget.holders += not holding
            self.reserved += needed
            self.on_hold(self.reserved)
            return True

    def keep_used(self) -> None:
        """A request that stops between its tries (refused, unreached, or the run
        stopping): its ledger row keeps only what the tries sent may have cost."""
        if self.reserved:
            self.on_hold(self.used_usd)

    def use(self, input_tokens: int, output_tokens: int) -> None:
        self.used_usd += self.prices.cost(input_tokens, output_tokens)

    async def settle(self, cost: float) -> None:
        async with self.settled:
            self.budget.settle(self.reserved, cost)
            self.budget.holders -= self.reserved > 0
            self.reserved = 0.0
            self.settled.notify_all()


def usd(dollars: float) -> str:
    """Dollars as text: to the hundredth of a cent below $1 (a round's cost, a budget's
    rest), to the cent above."""
    return f"${dollars:,.4f}" if dollars < 1 else f"${dollars:,.2f}"


def rough_usd(dollars: float) -> str:
    """Dollars a forecast is made at: to the cent from ten cents, else as `usd` (a tiny
    run's "$0.00" said nothing)."""
    return f"${dollars:,.2f}" if dollars >= 0.1 else usd(dollars)
