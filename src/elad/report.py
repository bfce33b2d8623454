"""Reading a run back from its store: the per-round table. Never imports torch."""

from __future__ import annotations

from pathlib import Path

from elad.store import open_existing
from elad.types import RoundRecord

COLUMNS = [  # header, width, how to show a record's value
    ("round", 5, lambda r: f"{r.round}"),
    ("labeled", 7, lambda r: f"{r.n_labeled}"),
    ("calls", 5, lambda r: f"{r.teacher_calls}"),
    ("in tokens", 9, lambda r: f"{r.teacher_input_tokens}"),
    ("out tokens", 10, lambda r: f"{r.teacher_output_tokens}"),
    ("cost $", 8, lambda r: f"{r.cost_usd:.4f}"),
    ("test acc", 8, lambda r: f"{r.test_accuracy:.3f}"),
    ("confirmed", 9, lambda r: "-" if r.confirmed_fraction is None
     else f"{r.confirmed_fraction:.2f}"),
]


def format_table(records: list[RoundRecord], header: bool = True) -> str:
    """Rows of cumulative figures per round (teacher calls, tokens and cost so far)."""
    lines = []
    if header:
        lines.append("  ".join(name.rjust(width) for name, width, _ in COLUMNS))
    for record in records:
        lines.append("  ".join(show(record).rjust(width) for _, width, show in COLUMNS))
    return "\n".join(lines)


def load_records(run_dir: Path) -> list[RoundRecord]:
    store = open_existing(run_dir)
    try:
        return store.rounds()
    finally:
        store.close()


def format_aurocs(aurocs: dict[str, float | None]) -> str:
    """The selection diagnostic, one strategy a line: 0.5 is chance, 1 is perfect."""
    lines = ["AUROC of each strategy's score for 'the student's greedy answer is wrong':"]
    for name, value in aurocs.items():
        lines.append(f"  {name:>16}  {'-' if value is None else f'{value:.3f}'}")
    return "\n".join(lines)
