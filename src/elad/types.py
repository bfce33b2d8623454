"""The plain records that flow through one ELAD round.

Kept free of model code so every module (and the report, which never imports torch)
can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Example:
    """One question. `answer` is the gold answer: set for test examples, None in the pool
    (the loop never sees pool answers; only the oracle teacher and diagnostics may).
    Slots: a pool may hold millions."""

    id: str
    task: str
    question: str
    answer: str | None = None


@dataclass
class Explanation:
    """A chain of thought: numbered steps and a final answer (None if it did not parse).
    `token_confidence`: for each step, then the answer line, the probability the student
    gave the least likely token it wrote there (empty when not generated here)."""

    steps: list[str]
    answer: str | None
    mean_logprob: float = 0.0  # mean token log-probability of the generated text
    token_confidence: list[float] = field(default_factory=list)


@dataclass
class Score:
    """Why a question might be selected: its uncertainties and the explanation the
    teacher would see (index into the K samples) with its least stable step (1-based).
    `u` is ELAD's combined u(q); `greedy_answer` is what the student answers greedily
    (the AUROC diagnostic checks it against the hidden answer). The run store keeps one
    column per field: a new signal is a new field here and in the scorer."""

    example_id: str
    u_inter: float
    u_intra: float
    u: float
    chosen: int
    least_stable_step: int | None
    answers: list[str | None] = field(default_factory=list)
    least_confidence: float = 0.0
    greedy_answer: str | None = None


# how the error of a request that got no reply begins (teacher/retry.py): the next run
# asks it again (store.cached_reply)
NO_REPLY = "no reply after"
# how the error of a request whose replies all could not be used begins (retry.py)
NO_USABLE_REPLY = "no usable reply in"
# how the error of a request the server refused (HTTP 400 and the like) begins (retry.py)
REFUSED_REQUEST = "the server refused the request:"


def no_reply(reply: TeacherReply) -> bool:
    """Whether `reply` is a request's that got none: its retries ran out (timed out, the
    connection lost, a server error); the next run asks it again."""
    return not reply.ok and reply.error.startswith(NO_REPLY)


def asked_again(reply: TeacherReply) -> bool:
    """Whether the next run asks again a request given up on with `reply`: its retries
    ran out with no reply (a connection lost, a timeout), or it was billed nothing (most
    refusals). The same rule as store_schema.CACHED_REPLY, there in SQL."""
    return no_reply(reply) or (not reply.ok
                               and reply.input_tokens + reply.output_tokens == 0)


@dataclass
class TeacherReply:
    """What the teacher returned for one question.

    For `revise`: `first_error` is the 1-based number of the first wrong student step
    (None when the explanation is right) and `steps` the corrected continuation from
    there. For `annotate`: `first_error` is None and `steps` is the whole explanation.
    `ok` is False when the reply could not be used; `error` then says why.
    `worst_case_tokens` is the part of the (input, output) tokens that is the worst case of
    `worst_case_attempts` attempts whose usage the server never reported (timed out, an
    unreadable reply): charged so, as the budget must assume, though it may have billed
    less.
    """

    op: str
    first_error: int | None
    steps: list[str]
    answer: str | None
    input_tokens: int
    output_tokens: int
    ok: bool = True
    error: str = ""
    worst_case_tokens: tuple[int, int] = (0, 0)
    worst_case_attempts: int = 0

    def __post_init__(self) -> None:  # read back from JSON as a list
        self.worst_case_tokens = tuple(self.worst_case_tokens)


@dataclass
class TeacherCall:
    """One teacher call as the store keeps it (`RunStore.teacher_calls`): what reports,
    benchmarks and exports read. `request` is the request as sent (its JSON: op,
    question, steps, answer, hint, prompt, ...); `reply` what came back."""

    round: int
    example_id: str
    op: str  # "annotate" or "revise"
    request: dict
    reply: TeacherReply
    input_tokens: int
    output_tokens: int
    cost_usd: float
    ok: bool
    error: str


@dataclass
class Target:
    """A training target: the explanation the student should learn for a question."""

    example_id: str
    question: str
    steps: list[str]
    answer: str
    round: int
    no_wrong_step: bool  # a revision: the teacher found no error in the student's own
    # explanation (not the run table's "confirmed": was the teacher's answer the student's)


class StopReason(StrEnum):
    """Why a run stopped after a round (docs/concepts.md, "The stop"); stored and printed as text."""

    NOT_STOPPED = ""
    SATURATED = "saturated"
    POOL_EXHAUSTED = "pool exhausted"
    BUDGET_SPENT = "budget spent"
    MAX_ROUNDS = "max rounds"
    LOW_GAIN = "low forecast gain"  # the stop rule in dollars (stop_gain_per_usd)


@dataclass
class RoundRecord:
    """One row of the per-round table; what `elad report` prints. Stores made before a
    field with a default was added read back with that default.

    `forecast` is what the next dollars buy, fitted to the rounds so far
    (`run_forecast.forecast_record`; None before three rounds) and `signals` the
    label-free signals of the round's candidates (`run_forecast.label_free_signals`;
    None in round 0): both JSON-ready dicts."""

    round: int
    n_labeled: int
    teacher_calls: int
    teacher_input_tokens: int
    teacher_output_tokens: int
    cost_usd: float
    test_accuracy: float
    confirmed_fraction: float | None
    strategy: str
    mode: str
    seed: int
    stop_reason: StopReason = StopReason.NOT_STOPPED
    test_accuracy_by_task: dict[str, float] = field(default_factory=dict)
    forecast: dict | None = None
    signals: dict | None = None
    train_loss: float | None = None  # the student's, at the end of this round's training
    accuracy_before: float | None = None  # round 0: the untrained student's test accuracy

    def __post_init__(self):
        self.stop_reason = StopReason(self.stop_reason)
