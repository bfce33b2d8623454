"""The run store's file: its tables, the columns added since older stores were made,
its page cache for a large insert, the statements that keep teacher calls, and the
one-line error for a store that cannot be used (store.py reads and writes it)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elad.config import ConfigError
from elad.types import NO_REPLY, Score

# The scores table has a column per Score field (lists as JSON), added when missing, so a
# new signal is a new Score field and nothing here. Runs made before `score` was named `u`
# have their column renamed when opened.
SCORE_FIELDS = [f.name for f in dataclasses.fields(Score)]
LIST_FIELDS = {f.name for f in dataclasses.fields(Score) if str(f.type).startswith("list")}
_RENAMED = {"score": "u"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS examples (
    id TEXT PRIMARY KEY, split TEXT NOT NULL, task TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT);
CREATE TABLE IF NOT EXISTS explanations (
    round INTEGER, example_id TEXT, k INTEGER, steps TEXT NOT NULL, answer TEXT,
    mean_logprob REAL, confidences TEXT, token_confidence TEXT,
    PRIMARY KEY (round, example_id, k));
CREATE TABLE IF NOT EXISTS scores (
    round INTEGER, example_id TEXT, PRIMARY KEY (round, example_id));
CREATE TABLE IF NOT EXISTS selections (
    round INTEGER, position INTEGER, example_id TEXT NOT NULL,
    PRIMARY KEY (round, position));
CREATE TABLE IF NOT EXISTS teacher_calls (
    request_hash TEXT PRIMARY KEY, round INTEGER NOT NULL, example_id TEXT NOT NULL,
    op TEXT NOT NULL, request TEXT NOT NULL, reply TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, ok INTEGER NOT NULL, error TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS targets (
    example_id TEXT PRIMARY KEY, round INTEGER NOT NULL, question TEXT NOT NULL,
    steps TEXT NOT NULL, answer TEXT NOT NULL, confirmed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    input_file_id TEXT PRIMARY KEY, round INTEGER NOT NULL, batch_id TEXT,
    created REAL NOT NULL, collected INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS batch_requests (
    input_file_id TEXT NOT NULL, request_hash TEXT NOT NULL, example_id TEXT NOT NULL,
    outcome TEXT, request TEXT, worst_usd REAL,
    PRIMARY KEY (input_file_id, request_hash));
CREATE TABLE IF NOT EXISTS in_flight (id INTEGER PRIMARY KEY, request_hash TEXT NOT NULL,
    round INTEGER, example_id TEXT, worst_usd REAL NOT NULL, created REAL);
"""


class StoreDamaged(ConfigError):
    """A run store SQLite cannot read; the message says what to do."""


def store_error(path: Path, error: sqlite3.DatabaseError) -> ConfigError:
    """The one-line error for a store that cannot be used: one it cannot open or write
    (read-only, disk full, I/O), or a damaged one, left as it is since the teacher
    replies in it may still be recovered."""
    if isinstance(error, sqlite3.OperationalError):
        return ConfigError(f"{path}: {error}")
    return StoreDamaged(
        f"{path} is damaged ({error}); elad leaves it as it is. `sqlite3 {path} .recover "
        f"| sqlite3 recovered.sqlite` may save what is readable: put that in its place "
        "to resume from it once `sqlite3 recovered.sqlite 'SELECT count(*) FROM "
        "teacher_calls'` counts its replies (a store with none starts the run over, and "
        "an old sqlite3's .recover can fail and leave it empty); or move the run "
        "directory away to start over (its teacher replies would be paid again)")


def column_names(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def add_new_columns(db: sqlite3.Connection) -> None:
    """Columns added since a store was made: the scores table's per Score field,
    explanations' token_confidence and batch_requests' request and worst_usd."""
    for table, column, kind in (("explanations", "token_confidence", "TEXT"),
                                ("batch_requests", "request", "TEXT"),
                                ("batch_requests", "worst_usd", "REAL")):
        if column not in column_names(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    columns = column_names(db, "scores")
    for old, new in _RENAMED.items():
        if old in columns and new not in columns:
            db.execute(f"ALTER TABLE scores RENAME COLUMN {old} TO {new}")
            columns = (columns - {old}) | {new}
    for name in SCORE_FIELDS:
        if name not in columns:
            db.execute(f"ALTER TABLE scores ADD COLUMN {name}")


@contextmanager
def page_cache(db: sqlite3.Connection, kib: int) -> Iterator[None]:
    """SQLite's page cache at least `kib` KiB while inside (its default is 2 MiB)."""
    before = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size = {-max(kib, 2000)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {before}")


# The reply kept for a request (?: its hash): a usable one, or a failure that billed
# tokens (prose instead of JSON; a refusal after a billed attempt: asking again would
# pay for the same). A failure that billed nothing (most refusals), or whose retries
# ran out with no reply (NO_REPLY: a connection lost, a timeout, even if billed), is
# asked again by the next run (types.asked_again: the same rule).
CACHED_REPLY = ("SELECT reply FROM teacher_calls WHERE request_hash = ? AND (ok OR ("
                f"input_tokens + output_tokens > 0 AND error NOT LIKE '{NO_REPLY}%'))")


def added(field: str) -> str:
    """SQL: a reply's JSON `field` plus the recorded failure's (absent: 0)."""
    return (f"IFNULL(json_extract(excluded.reply, '$.{field}'), 0) + "
            f"IFNULL(json_extract(reply, '$.{field}'), 0)")


# A call's reply and cost; one that replaces a failure adds the failure's tokens and
# cost, which may have been billed, so the ledger never loses money spent, and which of
# them are worst cases (TeacherReply.worst_case_tokens), so the report still says so.
SAVE_CALL = f"""INSERT INTO teacher_calls VALUES ({', '.join('?' * 12)})
ON CONFLICT (request_hash) DO UPDATE SET round = excluded.round,
    example_id = excluded.example_id, op = excluded.op, request = excluded.request,
    reply = CASE WHEN ok THEN excluded.reply ELSE json_set(excluded.reply,
        '$.worst_case_attempts', {added('worst_case_attempts')},
        '$.worst_case_tokens', json_array({added('worst_case_tokens[0]')},
                                          {added('worst_case_tokens[1]')})) END,
    ok = excluded.ok, error = excluded.error,
    created = excluded.created,
    input_tokens = excluded.input_tokens + CASE WHEN ok THEN 0 ELSE input_tokens END,
    output_tokens = excluded.output_tokens + CASE WHEN ok THEN 0 ELSE output_tokens END,
    cost_usd = excluded.cost_usd + CASE WHEN ok THEN 0 ELSE cost_usd END"""
