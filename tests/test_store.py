"""The run store keeps everything across processes, and the cache never pays twice."""

import sqlite3

import pytest

from elad.budget import Budget, Prices
from elad.store import RunStore
from elad.teacher.gateway import TeacherGateway
from elad.teacher.oracle import OracleTeacher
from elad.types import Example, Explanation, RoundRecord, Score, Target

from conftest import annotation

Q = "What is the largest of 4, 9, 2?"


class CountingOracle(OracleTeacher):
    def __init__(self):
        super().__init__()
        self.calls = 0

    async def complete(self, request, allowance):
        self.calls += 1
        return await super().complete(request, allowance)


def test_store_survives_reopening(tmp_path):
    store = RunStore(tmp_path / "run.sqlite")
    store.set_meta("config", "{}")
    store.add_examples("pool", [Example("a", "largest", Q)])
    store.add_examples("pool", [Example("a", "largest", Q)])  # idempotent
    store.save_scoring(1, {"a": [Explanation(["4 and 9: 9"], "9", -0.5)]}, {"a": [[0.5, 0.9]]},
                       [Score("a", 0.0, 0.05, 0.025, 0, None, ["9"])])
    store.save_selection(1, ["a"])
    store.add_target(Target("a", Q, ["4 and 9: 9", "9 and 2: 9"], "9", 1,
                            no_wrong_step=False))
    store.save_round(RoundRecord(1, 1, 1, 10, 5, 0.001, 0.5, 0.0, "elad", "revise", 0))
    store.close()

    again = RunStore(tmp_path / "run.sqlite")
    assert again.get_meta("config") == "{}"
    assert again.examples("pool") == [Example("a", "largest", Q)]
    assert again.explanations(1, "a")[0].steps == ["4 and 9: 9"]
    assert again.scores(1, "a")[0].u == 0.025
    assert again.selection(1) == ["a"] and again.selection(2) is None
    assert again.targets()[0].steps[-1] == "9 and 2: 9"
    assert again.rounds()[0].test_accuracy == 0.5


def test_cached_teacher_pays_once_across_processes(tmp_path):
    prices = Prices(2.5, 10.0)
    oracle = CountingOracle()
    store = RunStore(tmp_path / "run.sqlite")
    teacher = TeacherGateway(oracle, store, prices)
    budget = Budget(1.0)
    [first] = teacher.call_all([(annotation(teacher, Q), "a")], 0, budget)
    assert not first.cached and oracle.calls == 1
    assert first.cost_usd == prices.cost(first.reply.input_tokens, first.reply.output_tokens)
    store.close()

    store = RunStore(tmp_path / "run.sqlite")  # a new process, same run directory
    teacher = TeacherGateway(oracle, store, prices)
    [again] = teacher.call_all([(annotation(teacher, Q), "a")], 0,
                               Budget(1.0))
    assert again.cached and again.reply == first.reply and oracle.calls == 1
    assert store.call_totals()["calls"] == 1
    assert store.spent_usd() == first.cost_usd
    assert store.attempted_ids() == {"a"}


def test_a_reader_gets_the_questions_it_names_and_counts_without_reading_them(tmp_path):
    store = RunStore(tmp_path / "run.sqlite")
    pool = [Example(f"p{i}", "largest", f"{Q} ({i})") for i in range(5)]
    store.add_examples("pool", pool)
    store.add_examples("test", [Example("t0", "largest", Q, "9")])
    assert store.examples("pool", ["p3", "p1", "nosuch", "t0"]) == [pool[1], pool[3]]
    assert store.examples("pool", []) == []
    assert (store.count_examples("pool"), store.count_examples("test")) == (5, 1)
    assert store.example_ids("pool") == [e.id for e in pool]  # stored order: a sample's frame
    teacher = TeacherGateway(OracleTeacher(), store, Prices(2.5, 10.0))
    teacher.call_all([(annotation(teacher, Q), "p2")], 0, Budget(1.0))
    assert store.count_examples("pool", unasked=True) == 4  # p2 was asked
    store.close()


def test_request_that_might_not_fit_is_not_sent(tmp_path):
    oracle = CountingOracle()
    teacher = TeacherGateway(oracle, RunStore(tmp_path / "run.sqlite"), Prices(2.5, 10.0))
    request = annotation(teacher, Q)
    worst = teacher.worst_case_cost(request)
    [skipped] = teacher.call_all([(request, "a")], 0, Budget(worst * 0.99))
    assert skipped.reply is None and oracle.calls == 0
    budget = Budget(worst)
    [made] = teacher.call_all([(request, "a")], 0, budget)
    assert made.reply is not None and budget.spent <= budget.limit


def test_a_transaction_is_all_or_nothing(tmp_path):
    """A write that fails half-way leaves nothing (the connection autocommits each
    statement unless a transaction holds them together)."""
    store = RunStore(tmp_path / "run.sqlite")
    example = Example("a", "arithmetic", "Start with 1.", "1")
    with pytest.raises(sqlite3.IntegrityError):
        store._write("INSERT INTO examples VALUES (?, ?, ?, ?, ?)",
                     [("x", "pool", "t", "q", None), ("x", "pool", "t", "q", None)])
    assert store.examples("pool") == []
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_examples("pool", [example])
            raise RuntimeError("killed half-way")
    assert store.examples("pool") == []
    store.add_examples("pool", [example])
    assert [e.id for e in store.examples("pool")] == ["a"]


def test_a_store_whose_batches_kept_only_hashes_gets_their_requests_from_now_on(tmp_path):
    path = tmp_path / "run.sqlite"
    with sqlite3.connect(path) as db:  # batch_requests as elad made it before stop 49
        db.execute("CREATE TABLE batches (input_file_id TEXT PRIMARY KEY, round INTEGER "
                   "NOT NULL, batch_id TEXT, created REAL NOT NULL, collected INTEGER NOT "
                   "NULL DEFAULT 0)")
        db.execute("CREATE TABLE batch_requests (input_file_id TEXT NOT NULL, request_hash "
                   "TEXT NOT NULL, example_id TEXT NOT NULL, outcome TEXT, "
                   "PRIMARY KEY (input_file_id, request_hash))")
        db.execute("INSERT INTO batches VALUES ('file-1', 1, 'batch_1', 0, 1)")
        db.execute("INSERT INTO batch_requests VALUES ('file-1', 'h1', 'q1', NULL)")
    with RunStore(path) as store:
        store.add_batch("file-2", 1, [("h2", "q2", {"op": "annotate", "question": Q}, 0.01)])
        assert store.batched_requests(1) == {"q2": {"op": "annotate", "question": Q}}
        assert store.batched_requests(2) == {}


def test_a_reply_after_a_failure_keeps_the_failures_worst_case_tokens(tmp_path):
    """A request that timed out (charged its worst case) and got its reply on a later
    run: the tokens add up, and the store still says which of them are worst cases."""
    from elad.types import TeacherReply

    with RunStore(tmp_path / "run.sqlite") as store:
        timed_out = TeacherReply("annotate", None, [], None, 300, 128, ok=False,
                                 error="no reply: timed out", worst_case_tokens=(300, 128),
                                 worst_case_attempts=1)
        store.save_teacher_call("h", 0, "a", {}, timed_out, 0.0025)
        assert store.worst_case_totals() == (1, 300, 128)
        answered = TeacherReply("annotate", None, ["2 + 2 = 4"], "4", 100, 40)
        store.save_teacher_call("h", 0, "a", {}, answered, 0.0007)
        assert store.worst_case_totals() == (1, 300, 128)
        [call] = store.teacher_calls()
        assert (call.input_tokens, call.output_tokens) == (400, 168)
        assert call.cost_usd == pytest.approx(0.0032)
        assert call.reply.worst_case_tokens == (300, 128) and call.reply.ok
