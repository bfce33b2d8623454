"""The SQLite run store: everything a run knows, in one file in the run directory.

Each write is its own committed transaction (WAL journal), so the process can be killed
at any moment and a rerun resumes from what is here. Teacher calls are keyed by a hash of
the full request: a call in the store is never made again, unless it got no reply.

Write-ahead: an online request's worst case is committed (`in_flight`) before it goes out;
its reply replaces it with the billed figure. A row a killed process left stays at worst
case (`unconfirmed_usd`, in `spent_usd`), so the budget holds across kills. Nothing paid
is ever deleted.

A test set the teacher annotated is billed at round TEST_ROUND (-1): in `spent_usd`
(the budget pays it), apart from the rounds' calls (`teacher_calls`, `call_totals`);
`test_set_totals` has its figures.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from elad.config import ConfigError
from elad.store_batches import BatchRecords
from elad.store_schema import (
    CACHED_REPLY,
    LIST_FIELDS,
    SAVE_CALL,
    SCHEMA,
    SCORE_FIELDS,
    add_new_columns,
    page_cache,
    store_error,
)
from elad.types import (
    Example,
    Explanation,
    RoundRecord,
    Score,
    Target,
    TeacherCall,
    TeacherReply,
)

TEST_ROUND = -1  # the round of the test set's annotations (testset.py), kept apart
SAVE_ROUND = "INSERT OR REPLACE INTO rounds VALUES (?, ?)"
EXAMPLE_INDEX_BYTES = 64  # an example's share of the page cache while it is stored


def round_name(round: int) -> str:
    """A round as messages name it ("round 2"; the test set's annotations: "the test
    set", never "round -1")."""
    return "the test set" if round == TEST_ROUND else f"round {round}"


class RunStore(BatchRecords):
    """One run's SQLite database (`run.sqlite` in the run directory). Opening it checks
    it (`PRAGMA quick_check`, milliseconds for a run's store): a damaged file is a
    StoreDamaged error before anything is read or written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        try:
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            add_new_columns(self.db)
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise store_error(self.path, error) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: every write inside is committed together, or none is (the
        connection is in autocommit mode, where `with self.db` commits each statement
        on its own). Nested, the outer one decides."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        with self.transaction():  # all rows or none
            self.db.executemany(sql, rows)

    # --- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])

    def sent_counts(self) -> dict[str, int]:
        """Requests sent to the teacher, by what became of them."""
        count = {"answered": "SELECT COUNT(*) FROM teacher_calls WHERE ok",
                 "failed": "SELECT COUNT(*) FROM teacher_calls WHERE NOT ok",
                 "in flight (reply never received)": "SELECT COUNT(*) FROM in_flight WHERE worst_usd > 0",
                 "in batches": "SELECT COUNT(DISTINCT request_hash) FROM batch_requests"}
        return {what: self.db.execute(sql).fetchone()[0] for what, sql in count.items()}

    def sent(self) -> str:
        """What was sent to the teacher ("3 answered, 40 in batches"; "" if nothing)."""
        return ", ".join(f"{n} {what}" for what, n in self.sent_counts().items() if n)

    def replied(self) -> bool:
        """Whether the teacher replied to a request: a reply, or a failure it charged for
        (not one charged nothing: an HTTP error, such as a server's refusal)."""
        return self.db.execute(
            "SELECT COUNT(*) FROM teacher_calls WHERE ok OR cost_usd > 0 OR "
            "input_tokens + output_tokens > 0").fetchone()[0] > 0

    def paid_nothing(self) -> bool:
        """Whether nothing the teacher was sent can have been paid or used: no reply
        (`replied`), nothing in flight or in a batch."""
        sent = self.sent_counts()
        return not self.replied() and not sent["in flight (reply never received)"] \
            and not sent["in batches"]

    def start_over(self, config_json: str) -> None:
        """Empty every table and keep `config_json` as the run's config, in one
        transaction (a run whose start failed before any request was sent, started
        again with another config). Refused (ConfigError) unless `paid_nothing`."""
        if not self.paid_nothing():
            raise ConfigError(f"{self.path} cannot be started over: it sent the teacher "
                              f"requests ({self.sent()}), paid or maybe paid")
        with self.transaction():
            for (table,) in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                self.db.execute(f"DELETE FROM {table}")
            self.db.execute("INSERT INTO meta VALUES ('config', ?)", (config_json,))

    def save_config(self, config_json: str, record: RoundRecord | None = None) -> None:
        """Keep `config_json` as the run's config and, if given, the round record whose
        stop reason was decided under it, in one transaction (a grown run)."""
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)",
                            (config_json,))
            if record is not None:
                self.db.execute(SAVE_ROUND, (record.round, json.dumps(record.__dict__)))

    # --- examples ---------------------------------------------------------------------

    def add_examples(self, split: str, examples: list[Example]) -> None:
        """Each example once, in one transaction; the page cache holds their id index
        meanwhile (ids come shuffled: a million of them through the default cache write
        the same index pages to the journal again and again, several times slower)."""
        with page_cache(self.db, len(examples) * EXAMPLE_INDEX_BYTES // 1024):
            self._write("INSERT OR IGNORE INTO examples VALUES (?, ?, ?, ?, ?)",
                        ((e.id, split, e.task, e.question, e.answer) for e in examples))

    def examples(self, split: str, ids: Iterable[str] | None = None) -> list[Example]:
        """The split's questions in stored order; with `ids`, only those (a report reads
        the few it needs, not a pool of a million)."""
        only = "" if ids is None else " AND id IN (SELECT value FROM json_each(?))"
        rows = self.db.execute(f"SELECT id, task, question, answer FROM examples WHERE "
                               f"split = ?{only} ORDER BY rowid",
                               (split,) if ids is None else (split, json.dumps(list(ids))))
        return [Example(*row) for row in rows]

    def example_ids(self, split: str) -> list[str]:
        """The split's ids in stored order: draw a sample, then read just it (`examples`)."""
        return [row[0] for row in self.db.execute(
            "SELECT id FROM examples WHERE split = ? ORDER BY rowid", (split,))]

    def count_examples(self, split: str, unasked: bool = False) -> int:
        """The split's size (`unasked`: its questions the teacher was never asked about)."""
        never = " AND id NOT IN (SELECT example_id FROM teacher_calls)" if unasked else ""
        return self.db.execute(f"SELECT COUNT(*) FROM examples WHERE split = ?{never}",
                               (split,)).fetchone()[0]

    # --- explanations and scores ------------------------------------------------------

    def save_scoring(self, round: int, explanations: dict[str, list[Explanation]],
                     confidences: dict[str, list[list[float] | None]],
                     scores: list[Score]) -> None:
        """All candidates' explanations and scores of a round, in one transaction."""
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO explanations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(round, qid, k, json.dumps(e.steps), e.answer, e.mean_logprob,
                  json.dumps(confidences[qid][k]), json.dumps(e.token_confidence))
                 for qid, samples in explanations.items() for k, e in enumerate(samples)])
            self.db.executemany(
                f"INSERT OR REPLACE INTO scores (round, {', '.join(SCORE_FIELDS)}) "
                f"VALUES (?{', ?' * len(SCORE_FIELDS)})",
                [(round, *(json.dumps(v) if name in LIST_FIELDS else v
                           for name, v in zip(SCORE_FIELDS, dataclasses.astuple(s))))
                 for s in scores])

    def explanations(self, round: int, example_id: str) -> list[Explanation]:
        rows = self.db.execute(
            "SELECT steps, answer, mean_logprob, token_confidence FROM explanations "
            "WHERE round = ? AND example_id = ? ORDER BY k", (round, example_id))
        return [Explanation(json.loads(steps), answer, lp, json.loads(tc or "[]"))
                for steps, answer, lp, tc in rows]

    def scores(self, round: int, example_id: str | None = None) -> list[Score]:
        """A round's scores, highest first (or just one question's)."""
        sql, args = f"SELECT {', '.join(SCORE_FIELDS)} FROM scores WHERE round = ?", [round]
        if example_id is not None:
            sql, args = sql + " AND example_id = ?", [round, example_id]
        rows = self.db.execute(sql + " ORDER BY u DESC, example_id", args)
        return [Score(**{name: json.loads(v) if name in LIST_FIELDS else v
                         for name, v in zip(SCORE_FIELDS, row)}) for row in rows]

    def scored_rounds(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT round FROM scores ORDER BY 1")]

    # --- selections -------------------------------------------------------------------

    def save_selection(self, round: int, example_ids: list[str]) -> None:
        self._write("INSERT OR REPLACE INTO selections VALUES (?, ?, ?)",
                    [(round, i, qid) for i, qid in enumerate(example_ids)])

    def selection(self, round: int) -> list[str] | None:
        rows = self.db.execute(
            "SELECT example_id FROM selections WHERE round = ? ORDER BY position", (round,))
        return [r[0] for r in rows] or None

    # --- teacher calls (the cache) ----------------------------------------------------

    def cached_reply(self, request_hash: str) -> TeacherReply | None:
        """The reply kept for a request; not a failure with no reply (store_schema's
        CACHED_REPLY): a rerun asks that again, and its reply replaces the failure."""
        row = self.db.execute(CACHED_REPLY, (request_hash,)).fetchone()
        return TeacherReply(**json.loads(row[0])) if row else None

    def failed_call_tokens(self, request_hash: str) -> tuple[int, int] | None:
        """The (input, output) tokens billed for a request's recorded failure (every
        failure of it recorded, summed: SAVE_CALL); None when none is recorded."""
        row = self.db.execute("SELECT input_tokens, output_tokens FROM teacher_calls "
                              "WHERE request_hash = ? AND NOT ok", (request_hash,)).fetchone()
        return None if row is None else (row[0], row[1])

    def save_teacher_call(self, request_hash: str, round: int, example_id: str,
                          request: dict, reply: TeacherReply, cost_usd: float) -> None:
        """A reply and its cost (in the caller's `transaction` with `settle`, which
        removes its `send_ahead` row, the two are committed together)."""
        self.db.execute(SAVE_CALL, (
            request_hash, round, example_id, reply.op, json.dumps(request),
            json.dumps(reply.__dict__), reply.input_tokens, reply.output_tokens,
            cost_usd, int(reply.ok), reply.error, time.time()))

    def settle(self, in_flight: int) -> None:
        """The `send_ahead` row `in_flight` has its reply: it no longer counts."""
        self.db.execute("DELETE FROM in_flight WHERE id = ?", (in_flight,))

    def send_ahead(self, row: int | None, request_hash: str, round: int,
                   example_id: str, worst_usd: float) -> int:
        """Commit that a request may be billed up to `worst_usd` (its attempts so far,
        the next included) before it is sent: a new row (`row` None) or a raised one."""
        with self.transaction():
            return self.db.execute(
                "INSERT OR REPLACE INTO in_flight VALUES (?, ?, ?, ?, ?, ?)",
                (row, request_hash, round, example_id, worst_usd, time.time())).lastrowid

    def unconfirmed_usd(self) -> float:
        """The worst case of each online request sent whose reply never arrived."""
        return self.db.execute("SELECT TOTAL(worst_usd) FROM in_flight").fetchone()[0]

    def call_cost(self, request_hash: str) -> float:
        return self.db.execute("SELECT TOTAL(cost_usd) FROM teacher_calls "
                               "WHERE request_hash = ?", (request_hash,)).fetchone()[0]

    def teacher_failures(self) -> list[str]:
        """Why each unusable teacher reply was unusable, oldest first."""
        return [r[0] for r in self.db.execute(
            "SELECT error FROM teacher_calls WHERE NOT ok ORDER BY created")]

    def teacher_calls(self, round: int | None = None) -> list[TeacherCall]:
        """Every teacher call of the rounds (of one round, if given; TEST_ROUND: the
        test set's annotations) in the order made: request and reply, tokens, cost;
        what reports, benchmarks and exports read."""
        where, args = (("WHERE round = ?", (round,)) if round is not None
                       else ("WHERE round >= 0", ()))
        rows = self.db.execute(
            "SELECT round, example_id, op, request, reply, input_tokens, output_tokens, "
            f"cost_usd, ok, error FROM teacher_calls {where} ORDER BY rowid", args)
        return [TeacherCall(r, qid, op, json.loads(request), TeacherReply(**json.loads(reply)),
                            tin, tout, cost, bool(ok), error)
                for r, qid, op, request, reply, tin, tout, cost, ok, error in rows]

    def attempted_ids(self, up_to_round: int | None = None) -> set[str]:
        """Questions the teacher was already asked about (answered or failed), in rounds
        0 to `up_to_round` if given."""
        where, args = ("WHERE round BETWEEN 0 AND ?", (up_to_round,)) \
            if up_to_round is not None else ("", ())
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT example_id FROM teacher_calls {where}", args)}

    def spent_usd(self, before_round: int | None = None) -> float:
        """Dollars paid (answered calls in rounds before `before_round` if given, the
        test set's annotations always), plus every unconfirmed request at its worst
        case."""
        where, args = ("WHERE round < ?", (before_round,)) if before_round is not None \
            else ("", ())
        paid = self.db.execute(f"SELECT TOTAL(cost_usd) FROM teacher_calls {where}",
                               args).fetchone()[0]
        return float(paid) + self.unconfirmed_usd()

    def call_totals(self, round: int | None = None) -> dict[str, float]:
        """Calls, input/output tokens and cost of the rounds, up to and including
        `round` if given (the test set's annotations are apart: `test_set_totals`)."""
        where, args = ("WHERE round >= 0 AND round <= ?", (round,)) if round is not None \
            else ("WHERE round >= 0", ())
        return self._totals(where, args)

    def test_set_totals(self) -> dict[str, float]:
        """Calls, input/output tokens and cost of annotating the test set (zeros when
        its answers came with the data)."""
        return self._totals("WHERE round = ?", (TEST_ROUND,))

    def worst_case_totals(self) -> tuple[int, int, int]:
        """(attempts, input tokens, output tokens) charged at their worst case: the
        attempts whose usage the server never reported (TeacherReply)."""
        row = self.db.execute(
            "SELECT TOTAL(json_extract(reply, '$.worst_case_attempts')), "
            "TOTAL(json_extract(reply, '$.worst_case_tokens[0]')), "
            "TOTAL(json_extract(reply, '$.worst_case_tokens[1]')) FROM teacher_calls"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def _totals(self, where: str, args: tuple) -> dict[str, float]:
        calls, tin, tout, cost = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),"
            f" COALESCE(SUM(cost_usd), 0) FROM teacher_calls {where}", args).fetchone()
        return {"calls": calls, "input_tokens": tin, "output_tokens": tout, "cost_usd": cost}

    # --- targets ----------------------------------------------------------------------

    def add_target(self, target: Target) -> None:
        self._write("INSERT OR REPLACE INTO targets VALUES (?, ?, ?, ?, ?, ?)",
                    [(target.example_id, target.round, target.question,
                      json.dumps(target.steps), target.answer, int(target.no_wrong_step))])

    def targets(self, up_to_round: int | None = None) -> list[Target]:
        where, args = ("WHERE round <= ?", (up_to_round,)) if up_to_round is not None \
            else ("", ())
        rows = self.db.execute(
            "SELECT example_id, question, steps, answer, round, confirmed FROM targets "
            f"{where} ORDER BY round, rowid", args)
        return [Target(qid, q, json.loads(s), a, r, bool(c)) for qid, q, s, a, r, c in rows]

    # --- sharing a seed round ---------------------------------------------------------

    def copy_seed_round(self, source: Path, calls_only: bool = False) -> None:
        """Copy the examples and round 0 (selection, teacher calls, targets, and the test
        set's annotations; `calls_only`: teacher calls alone) of the run store at `source` into this one, in one
        transaction (`elad bench` shares one seed round between the runs of a seed)."""
        self.db.execute("ATTACH DATABASE ? AS source", (str(source),))
        try:
            with self.transaction():
                for table in ("teacher_calls",) if calls_only else \
                        ("examples", "selections", "teacher_calls", "targets", "in_flight"):
                    where = "" if table == "examples" else "WHERE round <= 0"
                    self.db.execute(f"INSERT OR IGNORE INTO {table} "
                                    f"SELECT * FROM source.{table} {where} ORDER BY rowid")
        finally:
            self.db.execute("DETACH DATABASE source")

    # --- per-round records ------------------------------------------------------------

    def save_round(self, record: RoundRecord) -> None:
        self._write(SAVE_ROUND, [(record.round, json.dumps(record.__dict__))])

    def rounds(self) -> list[RoundRecord]:
        rows = self.db.execute("SELECT record FROM rounds ORDER BY round")
        return [RoundRecord(**json.loads(r[0])) for r in rows]

