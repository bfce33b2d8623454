"""Unlabeled pools: a JSON-lines file of questions only, its test questions from a
labeled file, from the file's own labeled lines, or annotated by the teacher (held out,
billed once and shown apart); a whole file by default; bad input as one line."""

import dataclasses
import json
import logging
import re

import pytest

from elad.cli import main
from elad.config import ConfigError, load_config
from elad.fakes.oracle_server import serve
from elad.loop import run
from elad.reading.diagnostics import (
    format_aurocs,
    round_diagnostic,
    selection_diagnostic,
)
from elad.reading.report import write_run_report
from elad.reading.stop_line import report_stop_line
from elad.rundir import stored_config
from elad.store import TEST_ROUND, RunStore
from elad.tasks import files, hidden_answer, load_task, synthetic
from elad.teacher import request as request_module
from elad.teacher.request import template
from elad.types import Score

from conftest import TINY, openai_overrides

SIZES = ("task.pool_size=", "task.test_size=")
RUN = [o for o in TINY if not o.startswith(SIZES)] + ["max_rounds=1", "candidates=8"]


def questions(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct arithmetic questions with their answers (the oracle server solves
    them exactly)."""
    data = synthetic.load(["arithmetic"], n, 1, seed)
    return [(e.question, synthetic.solve(e.question)[1]) for e in data.pool]


def write_lines(path, rows: list[dict]):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def jsonl_task(pool, *extra: str) -> list[str]:
    return ["task.kind=jsonl", f"task.path={pool}", "task.answer_type=number", *extra]


def file_config(pool, *extra: str):
    """A config to load the task with (no run: any teacher a file task takes)."""
    return load_config(None, [*jsonl_task(pool, *extra), "teacher.kind=reference"])


@pytest.fixture
def unlabeled_pool(tmp_path):
    return write_lines(tmp_path / "questions.jsonl",
                       [{"question": q} for q, _ in questions(120)])


def test_a_run_whose_data_file_moved_goes_on_from_its_new_path_if_it_holds_the_same(
        tmp_path, caplog):
    """A project moved to another folder (or machine): the run held the file's old path,
    and the only way on was another --run-dir, paying again. Now the error says how to
    give the new path, and the run goes on from it without asking anything again, if the
    file holds the same questions and test answers; edited test answers are refused, as
    edited questions are, and so is a move of a run that recorded no answers."""
    (tmp_path / "project").mkdir()
    old = write_lines(tmp_path / "project" / "q.jsonl",
                      [{"question": q, "answer": a} for q, a in questions(120)])
    new = tmp_path / "moved" / "q.jsonl"
    with serve() as (server, url):
        options = [*RUN, *jsonl_task(old, "task.test_size=16"), *openai_overrides(url)]
        run(load_config(None, [*options, "max_rounds=0"]), tmp_path / "run")
        billed = list(server.bills())
        new.parent.mkdir()
        old.rename(new)
        files._read.cache_clear()  # as a new process reads it
        with pytest.raises(ConfigError, match=re.escape(
                f"task.path={str(old)!r}: no such file or folder (where this run's "
                "file was; if it moved, give its new path, task.path=NEW: the run goes on "
                "if the file holds the same questions and answers)")):
            load_config(None, [], base=stored_config(tmp_path / "run"))
        rows = new.read_text()
        new.write_text(rows.replace('"answer": "', '"answer": "1'))
        grown = [*options, f"task.path={new}", "max_rounds=1"]
        caplog.set_level("INFO", logger="elad")
        with pytest.raises(ConfigError, match="the test answers are not the ones this run "
                                              "started with"):
            run(load_config(None, grown), tmp_path / "run")
        assert "going on with" not in caplog.text  # it read as if the change was taken
        new.write_text(rows)
        files._read.cache_clear()
        with RunStore(tmp_path / "run" / "run.sqlite") as store:
            recorded = store.get_meta("questions")  # as an older elad recorded it
            store.set_meta("questions", json.dumps(
                {k: v for k, v in json.loads(recorded).items() if k != "test answers"}))
        with pytest.raises(ConfigError, match=r"has not recorded its test answers yet \(an "
                                              r"older elad started it\), so a data file "
                                              r"given another path \(task.path\) cannot"):
            run(load_config(None, grown), tmp_path / "run")
        assert server.bills() == billed
        with RunStore(tmp_path / "run" / "run.sqlite") as store:
            store.set_meta("questions", recorded)
        records, _ = run(load_config(None, grown), tmp_path / "run")
        assert [r.round for r in records] == [0, 1]
        assert server.bills()[:len(billed)] == billed
        assert len({h for h, _ in server.bills()}) == len(server.bills())  # none twice
    assert stored_config(tmp_path / "run").task.path == str(new)


def test_an_unlabeled_pool_with_a_labeled_test_file(tmp_path, unlabeled_pool, caplog):
    """Questions only in the pool, answers in test.jsonl: the whole file is the pool,
    the test file the test set, and figures that need a pool answer are not available."""
    test = write_lines(tmp_path / "test.jsonl", [{"question": q, "answer": a}
                                                 for q, a in questions(16, seed=1)])
    caplog.set_level(logging.INFO, logger="elad")
    with serve() as (_, url):
        config = load_config(None, [*RUN, *jsonl_task(unlabeled_pool,
                                                      f"task.test_path={test}"),
                                    *openai_overrides(url)])
        records, _ = run(config, tmp_path / "run")
    assert "pool: 120 questions from questions.jsonl (all), test: 16 from test.jsonl" \
        in caplog.messages
    assert [r.round for r in records] == [0, 1] and records[-1].n_labeled > 16
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        pool, tests = store.examples("pool"), store.examples("test")
        assert len(pool) == 120 and all(e.answer is None for e in pool)
        assert sorted(e.answer for e in tests) == sorted(a for _, a in questions(16, 1))
        assert all(hidden_answer(e, config.task) is None for e in pool)
        assert store.test_set_totals()["calls"] == 0
    round, diagnostic = selection_diagnostic(tmp_path / "run")
    assert round == 1 and diagnostic.aurocs == {} and diagnostic.few_known() == ""
    assert "not available" in format_aurocs(diagnostic)
    html = write_run_report(tmp_path / "run").read_text()
    assert "Not available: no scored question has a known answer" in html
    assert "test set $" not in html


def test_a_partly_labeled_pools_diagnostic_says_how_few_questions_it_stands_on(tmp_path):
    """Its AUROCs are over the candidates whose answer the file has: printed bare, a
    helper read "least-confidence 1.000" that stood on 7 questions."""
    rows = [{"question": q} | ({"answer": a} if i % 3 == 0 else {})
            for i, (q, a) in enumerate(questions(30))]
    test_rows = [{"question": q, "answer": a} for q, a in questions(3, seed=1)]
    config = file_config(write_lines(tmp_path / "q.jsonl", rows),
                         f"task.test_path={write_lines(tmp_path / 't.jsonl', test_rows)}")
    pool = load_task(config.task, 0).pool
    with RunStore(tmp_path / "run.sqlite") as store:
        store.add_examples("pool", pool)
        store.save_scoring(1, {}, {}, [  # the student answers 0 to every question
            Score(e.id, i / 30, 0.0, i / 30, 0, None, ["0"], "0")
            for i, e in enumerate(pool)])
        diagnostic = round_diagnostic(store, config, 1)
    assert (diagnostic.scored, diagnostic.known, diagnostic.wrong) == (30, 10, 10)
    assert diagnostic.few_known() == (  # said since stop 59: before, bare '-'s
        "(all 10 questions whose answer is known, of the 30, were answered wrong: an "
        "AUROC needs some of each)")
    assert set(diagnostic.aurocs) >= {"random", "elad"}
    assert format_aurocs(diagnostic).endswith(f"\n  {diagnostic.few_known()}")
    assert dataclasses.replace(diagnostic, wrong=7).few_known() == (
        "(over the 10 of the 30 questions whose answer is known, 7 of them answered "
        "wrong; too few to tell the strategies apart)")
    labeled = dataclasses.replace(diagnostic, known=30, wrong=30)  # every answer wrong
    assert labeled.few_known() == ("(all 30 questions whose answer is known were "
                                      "answered wrong: an AUROC needs some of each)")


def test_a_test_set_the_teacher_refuses_whole_says_why(tmp_path, capsys):
    """Every test-set annotation refused (HTTP 400: the oracle server cannot solve the
    questions): the error gives the server's reason, as round 0's does (before: only
    'give labeled test questions'), after the first five refusals."""
    pool = write_lines(tmp_path / "questions.jsonl",
                       [{"question": f"Who wrote book number {i}?"} for i in range(60)])
    with serve() as (server, url):
        options = [*RUN, *jsonl_task(pool), "task.answer_type=text", *openai_overrides(url)]
        code = main(["-q", "run", *options, "--run-dir", str(tmp_path / "run")])
        assert server.bills() == []
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code != 0 and err.startswith(
        "elad: error: the test set: the server refused the first 5 requests (the last: "
        "Error code: 400 - the oracle teacher answers only"), err
    assert err.endswith("A refused request is billed nothing and asked again by a rerun: "
                        "fix the server, or what it names, then rerun (this run has had no "
                        "reply, so any setting may change, unless a request still in "
                        "flight gets one)")


def test_without_labeled_questions_the_teacher_annotates_a_test_set_once(
        tmp_path, unlabeled_pool, caplog, monkeypatch):
    """No answer anywhere: a fifth of the pool (24 questions) is held out and annotated
    by the teacher through the run's gateway; never selected or trained on, billed
    once across a rerun (also by an elad whose prompt reads otherwise), in the budget
    and shown apart in the store and report."""
    caplog.set_level(logging.INFO, logger="elad")
    with serve() as (server, url):
        options = [*RUN, *jsonl_task(unlabeled_pool), *openai_overrides(url)]
        records, _ = run(load_config(None, options), tmp_path / "run")
        billed = list(server.bills())
        run(load_config(None, options), tmp_path / "run")  # finished: reread, nothing paid
        assert server.bills() == billed
        version, body = template("annotate")  # an upgrade that words annotations anew
        monkeypatch.setattr(request_module, "template", lambda op: (
            version, body + "\nA newer line." if op == "annotate" else template(op)[1]))
        run(load_config(None, options), tmp_path / "run")
        assert server.bills() == billed  # (re-annotated the test set before)
    line = next(m for m in caplog.messages if m.startswith("pool: "))
    assert line.startswith("pool: 96 questions, those from questions.jsonl (all) but the "
                           "24 held out; test: those 24, annotated by the teacher "
                           "(automatic")
    solutions = dict(questions(120))
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        test = store.examples("test")
        held = {e.id for e in test}
        assert len(test) == 24 and all(e.answer == solutions[e.question] for e in test)
        assert not held & {e.id for e in store.examples("pool")}
        assert not held & {t.example_id for t in store.targets()}
        assert not held & {qid for r in (0, 1) for qid in store.selection(r) or []}
        apart = store.test_set_totals()
        assert apart["calls"] == 24 == len(store.teacher_calls(TEST_ROUND))
        assert apart["cost_usd"] > 0
        rounds = store.call_totals()
        assert records[-1].cost_usd == pytest.approx(rounds["cost_usd"])
        assert store.spent_usd() == pytest.approx(rounds["cost_usd"] + apart["cost_usd"])
        assert store.spent_usd() == pytest.approx(sum(usd for _, usd in billed))
        assert len(billed) == 24 + rounds["calls"]  # each prompt billed once
    html = write_run_report(tmp_path / "run").read_text()
    assert "test set $" in html and f"{apart['cost_usd']:.4f}" in html
    assert (f"and ${apart['cost_usd']:.4f} apart for the teacher&#x27;s test set "
            "annotations." in html)  # "what the run bought": nothing unconfirmed
    assert re.search(r"<td>test set</td>\s*<td>annotate</td>\s*<td>24</td>", html)
    spent = sum(usd for _, usd in billed)  # `elad report`'s last line: all of it
    assert (f"spent ${spent:.4f} (the rounds shown ${records[-1].cost_usd:.4f}, the test "
            f"set ${apart['cost_usd']:.4f}) of $0.5" in report_stop_line(tmp_path / "run",
                                                                         records))
    # before any round is finished, the money spent is said all the same
    assert report_stop_line(tmp_path / "run", []) == (
        f"stopped: not finished; no round yet; spent ${spent:.4f} (the test set "
        f"${apart['cost_usd']:.4f}, a round not finished ${rounds['cost_usd']:.4f}) of $0.5")


def test_the_pool_files_labeled_lines_are_the_test_set(tmp_path):
    """One file, some lines with answers: the test set is drawn from those (up to 300),
    the pool is every other line; pool_size caps the pool when set."""
    rows = [{"question": q, **({"answer": a} if i % 4 == 0 else {})}
            for i, (q, a) in enumerate(questions(200))]
    path = write_lines(tmp_path / "mixed.jsonl", rows)
    data = load_task(file_config(path).task, 0)
    assert len(data.test) == 50 and all(e.answer for e in data.test)
    assert len(data.pool) == 150 and data.pool_from == "mixed.jsonl (all)"
    capped = load_task(file_config(path, "task.pool_size=40", "task.test_size=10",
                                   "seed_size=16").task, 0)
    assert (len(capped.pool), len(capped.test)) == (40, 10)


def test_synthetic_sizes_default_to_3000_and_300():
    data = load_task(load_config(None, []).task, 0)
    assert (len(data.pool), len(data.test)) == (3000, 300)


@pytest.mark.parametrize("rows, message", [
    ([{"question": "q1", "answer": "3"}, {"question": "q2"}],
     (r"^\S*test.jsonl:2: no 'answer' field \(task.answer_field\): a test question needs "
      r"its answer \(this line's fields: 'question'\) \(task.skip_malformed=true skips")),
    ([{"question": "q1", "label": "3"}],
     r"^\S*test.jsonl:1: no 'answer' field \(task.answer_field\): .*'question', 'label'"),
    ([{"question": "q1", "answer": " "}],
     r"^\S*test.jsonl:1: no 'answer' text: a test question needs its answer"),
])
def test_a_test_file_without_answers_is_one_line(tmp_path, unlabeled_pool, rows, message):
    test = write_lines(tmp_path / "test.jsonl", rows)
    config = file_config(unlabeled_pool, f"task.test_path={test}")
    with pytest.raises(ConfigError, match=message) as error:
        load_task(config.task, 0)
    assert "\n" not in str(error.value)


def test_skip_malformed_skips_unlabeled_test_lines(tmp_path, unlabeled_pool):
    test = write_lines(tmp_path / "test.jsonl", [{"question": "q1", "answer": "3"},
                                                 {"question": "q2"}])
    config = file_config(unlabeled_pool, f"task.test_path={test}",
                         "task.skip_malformed=true")
    assert [e.answer for e in load_task(config.task, 0).test] == ["3"]


@pytest.mark.parametrize("options, message", [
    (["task.test_from_teacher=120"],
     "task.test_from_teacher=120 is not smaller than the pool (120 questions)"),
    (["task.test_from_teacher=110"],
     "task.test_from_teacher=110 leaves 10 pool questions, fewer than seed_size=16"),
    (["task.test_from_teacher=10", "task.pool_size=20"],
     "task.test_from_teacher=10 leaves fewer than seed_size=16 of the task.pool_size=20"),
    (["task.test_from_teacher=10", "task.test_path={pool}"],
     "task.test_from_teacher and task.test_path both give the test set; set one"),
    (["task.test_path=/no/such.jsonl"], "task.test_path='/no/such.jsonl': no such file"),
    (["budget_usd=0.001"], ("budget_usd=0.001 does not cover the teacher annotating "
                            "the 24 test questions")),
])
def test_bad_teacher_test_sets_are_one_line_and_pay_nothing(tmp_path, unlabeled_pool,
                                                            capsys, options, message):
    """Refused before any request is sent; `elad run` prints one line (exit 2), and
    the run directory has paid nothing, so a fixed config starts it over."""
    options = [o.format(pool=unlabeled_pool) for o in options]
    with serve() as (server, url):
        argv = ["run", *RUN, *jsonl_task(unlabeled_pool), *openai_overrides(url),
                *options, "--run-dir", str(tmp_path / "run")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.strip().count("\n") == 0
        assert server.bills() == [] and server.ledger == []
    if (tmp_path / "run" / "run.sqlite").exists():
        with RunStore(tmp_path / "run" / "run.sqlite") as store:
            assert store.paid_nothing()


def test_a_synthetic_file_task_rejects_test_path(tmp_path, unlabeled_pool):
    with pytest.raises(ConfigError, match="task.test_path is for a file task"):
        load_config(None, [f"task.test_path={unlabeled_pool}"])


def test_a_synthetic_task_can_take_its_test_set_from_the_teacher(tmp_path):
    """task.test_from_teacher=N on a labeled task: N pool questions held out and
    annotated by the (exact) oracle, whatever the task's own test questions."""
    options = [*TINY, "max_rounds=0", "task.test_from_teacher=8"]
    records, _ = run(load_config(None, options), tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        test = store.examples("test")
        assert len(test) == 8 and len(store.examples("pool")) == 112
        assert all(e.answer == synthetic.solve(e.question)[1] for e in test)
        assert store.test_set_totals()["calls"] == 8
        assert records[0].cost_usd == pytest.approx(store.call_totals()["cost_usd"])
        assert store.spent_usd() > records[0].cost_usd


def test_a_data_file_edited_between_runs_is_refused_before_anything_is_asked(
        tmp_path, unlabeled_pool):
    """Questions are known by their line numbers: a line added at the top would give the
    stored replies and targets to other questions. The rerun (the run grown by a round)
    is refused with one line, and the teacher is not asked for the held-out test set
    again or for anything else."""
    with serve() as (server, url):
        options = [*RUN, *jsonl_task(unlabeled_pool), *openai_overrides(url)]
        run(load_config(None, [*options, "max_rounds=0"]), tmp_path / "run")
        billed = list(server.bills())
        rows = unlabeled_pool.read_text()
        unlabeled_pool.write_text(json.dumps({"question": questions(1, seed=5)[0][0]})
                                  + "\n" + rows)
        files._read.cache_clear()  # as a new process reads it
        with pytest.raises(ConfigError, match="the pool questions are not the ones this "
                                              "run started with"):
            run(load_config(None, [*options, "max_rounds=1"]), tmp_path / "run")
        assert server.bills() == billed
        unlabeled_pool.write_text(rows)  # restored: the run goes on
        files._read.cache_clear()
        records, _ = run(load_config(None, [*options, "max_rounds=1"]), tmp_path / "run")
    assert [r.round for r in records] == [0, 1]
