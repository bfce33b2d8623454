"""The run store's record of Batch API batches (teacher/batch.py): each batch and every
request in it, kept before the batch is created, and what came back for each. A part of
RunStore (store.py), apart only to keep that module short; it uses the store's `db`,
`transaction` and `_write`."""

from __future__ import annotations

import json
import time


class BatchRecords:
    """RunStore's batch tables (`batches`, `batch_requests`)."""

    def add_batch(self, input_file_id: str, round: int,
                  requests: list[tuple[str, str, dict, float]]) -> None:
        """A batch about to be created from an uploaded file, with the (request hash,
        example id, request as stored, dollars it holds: what its attempts so far were
        billed and this one's worst case) of each request in it; one transaction."""
        with self.transaction():
            self.db.execute("INSERT INTO batches VALUES (?, ?, NULL, ?, 0)",
                            (input_file_id, round, time.time()))
            self.db.executemany(
                "INSERT INTO batch_requests VALUES (?, ?, ?, NULL, ?, ?)",
                [(input_file_id, key, qid, json.dumps(request), worst)
                 for key, qid, request, worst in requests])

    def uncollected_batch_usd(self) -> float:
        """What the requests of a batch sent and not yet collected hold, at their worst
        case: billed by the server whether or not the run goes on, and collected (not
        sent again) by the next run, whose budget holds them again (so not in
        `spent_usd`, which a round's budget starts from)."""
        return self.db.execute(
            "SELECT TOTAL(r.worst_usd) FROM batch_requests r JOIN batches b "
            "USING (input_file_id) WHERE NOT b.collected").fetchone()[0]

    def batched_requests(self, round: int) -> dict[str, dict]:
        """Example id -> the request (as stored) that the latest batch of `round` holding
        it asked; a batch recorded by an earlier elad, which kept only their hashes, gives
        none."""
        rows = self.db.execute(
            "SELECT r.example_id, r.request FROM batch_requests r JOIN batches b "
            "USING (input_file_id) WHERE b.round = ? AND r.request IS NOT NULL "
            "ORDER BY b.rowid", (round,))
        return {qid: json.loads(request) for qid, request in rows}

    def set_batch_id(self, input_file_id: str, batch_id: str) -> None:
        self._write("UPDATE batches SET batch_id = ? WHERE input_file_id = ?",
                    [(batch_id, input_file_id)])

    def open_batch(self) -> dict | None:
        """The batch sent and not yet collected, if any: input_file_id, round, batch_id
        (None until known), created (unix time), keys (its request hashes)."""
        row = self.db.execute("SELECT input_file_id, round, batch_id, created FROM batches "
                              "WHERE NOT collected ORDER BY rowid LIMIT 1").fetchone()
        if row is None:
            return None
        keys = [r[0] for r in self.db.execute(
            "SELECT request_hash FROM batch_requests WHERE input_file_id = ?", row[:1])]
        return dict(zip(("input_file_id", "round", "batch_id", "created"), row), keys=keys)

    def collect_batch(self, input_file_id: str, outcomes: dict[str, dict]) -> None:
        """What came back for each request of a batch (request hash -> outcome), and the
        batch marked collected; one transaction."""
        with self.transaction():
            self.db.executemany(
                "UPDATE batch_requests SET outcome = ? "
                "WHERE input_file_id = ? AND request_hash = ?",
                [(json.dumps(outcome), input_file_id, key)
                 for key, outcome in outcomes.items()])
            self.db.execute("UPDATE batches SET collected = 1 WHERE input_file_id = ?",
                            (input_file_id,))

    def batch_outcomes(self, request_hash: str) -> list[dict]:
        """The outcomes of a request's collected batch attempts, oldest first."""
        rows = self.db.execute(
            "SELECT r.outcome FROM batch_requests r JOIN batches b USING (input_file_id) "
            "WHERE r.request_hash = ? AND b.collected AND r.outcome IS NOT NULL "
            "ORDER BY b.rowid", (request_hash,))
        return [json.loads(r[0]) for r in rows]
