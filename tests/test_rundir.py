"""A run directory under misuse, with real processes and real SQLite files: one process
at a time (the others are told who holds it), a damaged store left as it is, a reader
that goes away, a failed start reused, and a run grown with more money."""

import dataclasses
import fcntl
import os
import re
import socket
import subprocess
import sys
import threading
from collections import Counter

import pytest

from elad.cli import main
from elad.config import ConfigError, load_config
from elad.fakes.oracle_server import OracleServer, serve
from elad.lock import DirectoryInUse, hold, holder_of
from elad.reading.report import write_run_report
from elad.reading.report_summary import why_stopped
from elad.reading.run_numbers import load_records
from elad.reading.stop_line import report_stop_line
from elad.rundir import RunDir, stored_config
from elad.store import RunStore
from elad.types import Example, RoundRecord, StopReason, TeacherReply

from conftest import TINY, openai_overrides

QUIET = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}  # transformers' own
HOLDER = ("import sys, time; from elad.config import load_config; "
          "from elad.rundir import RunDir; run = RunDir.create(sys.argv[1], load_config()); "
          "print('holding', flush=True); time.sleep(300)")


def _in_use(run_dir, pid) -> str:
    return (rf"{re.escape(str(run_dir))} is in use by pid {pid} on "
            rf"{re.escape(socket.gethostname())} since [-\d]+ [:\d]+; wait for it to end, "
            r"or stop it \(it resumes with the same command\)")


def test_a_second_process_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken(
        tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        config = load_config(None, TINY)
        with pytest.raises(DirectoryInUse, match=f"^{_in_use(run_dir, holder.pid)}$"):
            RunDir.create(run_dir, config)
        assert main(["-q", "run", "--run-dir", str(run_dir)]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(f"elad: error: {_in_use(run_dir, holder.pid)}\n", err)
        assert load_records(run_dir) == []  # readers need no lock
    finally:
        holder.kill()  # SIGKILL: no cleanup runs; the kernel drops its lock
        holder.wait()
    with RunDir.create(run_dir, config) as taken:
        assert (run_dir / "elad.lock").read_text().startswith(f"pid {os.getpid()} on ")
        assert taken.config == config  # the holder's run had paid nothing: started over
    with RunDir.create(run_dir, config):  # released on close, taken again
        pass


def test_a_holder_that_has_not_written_its_name_yet_is_still_named(tmp_path):
    """The holder writes the lock file just after it takes the lock: a second process
    that finds it empty reads it again, and names the holder."""
    fd = os.open(tmp_path / "elad.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another open file: another holder
    writer = threading.Timer(0.2, os.pwrite, (fd, b"pid 12345 on host since now\n", 0))
    writer.start()
    try:
        with pytest.raises(DirectoryInUse, match="in use by pid 12345 on host since now;"):
            hold(tmp_path)
        os.ftruncate(fd, 0)  # a holder that never writes is another process
        assert holder_of(fd, wait_s=0.05) == "another process"
    finally:
        writer.join()
        os.close(fd)


def test_two_runs_on_one_directory_one_proceeds_and_nothing_is_paid_twice(tmp_path):
    run_dir = tmp_path / "run"
    server = OracleServer(latency_s=0.5)  # a seed round of 8 requests takes 4 s or more
    with serve(server) as (_, url):
        command = [sys.executable, "-m", "elad.cli", "-q", "run", *TINY, "seed_size=8",
                   "max_rounds=0", *openai_overrides(url, "teacher.concurrency=1",
                                                     "teacher.timeout_s=30"),
                   "--run-dir", str(run_dir)]
        both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=QUIET) for _ in range(2)]
        ended = [(p.pid, *p.communicate(timeout=600), p.returncode) for p in both]
    [(winner, out, _, _)] = [e for e in ended if e[3] == 0]
    [(_, _, err, _)] = [e for e in ended if e[3] == 2]
    assert "stopped: max rounds; teacher calls made now: 8" in out
    assert re.fullmatch(f"elad: error: {_in_use(run_dir, winner)}\n", err)
    delivered = Counter(a.prompt_hash for a in server.ledger)
    assert len(delivered) == 8 and set(delivered.values()) == {1}  # each paid once
    with RunStore(run_dir / "run.sqlite") as store:
        assert store.call_totals()["calls"] == 8
        assert store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))
    assert not list(run_dir.glob("checkpoints/*.partial"))


def test_raising_the_budget_of_a_finished_run_adds_rounds_and_pays_nothing_twice(
        tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    server = OracleServer()
    with serve(server) as (_, url):
        # $0.005 pays for a few questions, then nothing fits, before round 4
        assert main(["-q", "run", *TINY, *openai_overrides(url), "budget_usd=0.005",
                     "max_rounds=4", "--run-dir", run_dir]) == 0
        first = load_records(run_dir)
        asked = {a.prompt_hash for a in server.ledger}
        assert [r.stop_reason for r in first] == [""] * (len(first) - 1) + ["budget spent"]
        assert len(first) < 5
        # only the new budget is given: every other setting is the stored one
        assert main(["-q", "run", "budget_usd=0.5", "--run-dir", run_dir]) == 0
        grown = load_records(run_dir)
        assert main(["-q", "run", "--run-dir", run_dir]) == 0  # finished: nothing to do
        assert "teacher calls made now: 0" in capsys.readouterr().out
        assert main(["-q", "run", "seed=3", "strategy=random", "budget_usd=0.6",
                     "--run-dir", run_dir]) == 2
    assert [dataclasses.replace(r, stop_reason="") for r in first] == grown[:len(first)]
    assert len(grown) > len(first) and grown[-1].stop_reason == "max rounds"
    assert grown[-1].teacher_calls > first[-1].teacher_calls
    delivered = Counter(a.prompt_hash for a in server.ledger)
    assert set(delivered.values()) == {1} and asked < set(delivered)  # nothing paid twice
    assert len(server.ledger) == grown[-1].teacher_calls
    assert stored_config(run_dir).budget_usd == 0.5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a run made with seed=0 (not 3), " \
        "strategy='targeted' (not 'random'): changing these would make its stored work " \
        "inconsistent; use another --run-dir (a run may change only budget_usd, " in err
    assert "student.dtype, student.max_new_tokens, and every scale.* setting)" in err
    # refused before the start line, which showed the refused values as the run's
    assert main(["run", "seed=3", "--run-dir", run_dir]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "holds a run made with seed=0 (not 3)" in err


def test_elad_report_of_a_run_going_on_says_so_and_calls_its_requests_in_flight(
        tmp_path):
    """`elad report` while the run goes on said "stopped: not finished" and called the
    worst case its requests in flight hold "unconfirmed", as after a kill; report.html
    said they were "requests sent before a kill". Once the run is gone, they are."""
    run_dir = tmp_path / "run"
    with RunDir.create(run_dir, load_config()) as rundir:
        rundir.store.send_ahead(None, "key", 0, "q", 0.0123)  # sent, no reply yet
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        line = report_stop_line(run_dir, [])
        page = write_run_report(run_dir).read_text()
    finally:
        holder.kill()
        holder.wait()
    host = re.escape(socket.gethostname())
    holder_words = rf"pid {holder.pid} on {host} since [-\d]+ [:\d]+"
    assert re.fullmatch(rf"going on now \({holder_words}\); no round yet; spent \$0.0123 "
                        r"\(in flight \$0.0123\) of \$0.25", line)
    assert "$0.0123 of the spent figure is requests in flight (the run is going on now" \
        in page
    assert report_stop_line(run_dir, []) == ("stopped: not finished; no round yet; spent "
                                             "$0.0123 (unconfirmed $0.0123) of $0.25")
    assert "requests sent before a kill" in write_run_report(run_dir).read_text()


def test_a_run_that_paid_nothing_starts_over_with_the_corrected_config(tmp_path):
    with pytest.raises(ConfigError, match="qestions.jsonl'?: no such file"):
        load_config(None, [*TINY, "task.kind=jsonl", "teacher.kind=reference",
                           f"task.path={tmp_path / 'qestions.jsonl'}"])  # refused up front
    with RunDir.create(tmp_path / "run", load_config(None, [*TINY, "seed=3"])):
        pass  # a start that failed before any teacher request was sent
    fixed = load_config(None, TINY)
    with RunDir.create(tmp_path / "run", load_config(None, [*TINY, "seed=4"])) as rundir:
        # requests the server refused with an HTTP error (charged nothing): a config
        # the server cannot take, fixed by the next one
        rundir.store.save_teacher_call("refused", 0, "q", {}, TeacherReply(
            "annotate", None, [], None, 0, 0, ok=False, error="HTTP 500: json_schema"), 0.0)
        assert rundir.store.sent() == "1 failed" and rundir.store.paid_nothing()
    with RunDir.create(tmp_path / "run", fixed) as rundir:
        assert not rundir.changed and rundir.store.examples("pool") == []
        assert rundir.store.teacher_calls() == []
        rundir.store.save_teacher_call("key", 0, "q", {}, TeacherReply(
            "annotate", None, ["1 + 1 = 2"], "2", 10, 5), 0.0001)
    assert stored_config(tmp_path / "run") == fixed
    with pytest.raises(ConfigError, match=r"made with seed=0 \(not 5\): changing this.* "
                                          r"\(1 answered\), paid or maybe paid"):
        RunDir.create(tmp_path / "run", dataclasses.replace(fixed, seed=5))


def test_a_run_started_with_a_relative_path_resumes_from_any_directory(tmp_path,
                                                                       monkeypatch):
    started, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (started / "data").mkdir(parents=True)
    elsewhere.mkdir()
    (started / "data" / "q.jsonl").write_text('{"question": "1 + 1?", "answer": "2"}\n')
    monkeypatch.chdir(started)
    relative = [*TINY, "task.kind=jsonl", "teacher.kind=reference",
                "task.path=data/q.jsonl"]
    with RunDir.create("runs/a", load_config(None, relative)) as rundir:
        rundir.store.save_teacher_call("key", 0, "q", {}, TeacherReply(
            "annotate", None, ["1 + 1 = 2"], "2", 10, 5), 0.0001)
    monkeypatch.chdir(elsewhere)
    stored = stored_config(started / "runs/a")
    assert stored.task.path == str(started / "data" / "q.jsonl")
    grown = load_config(None, ["max_rounds=9"], base=stored)  # the file is found from here
    with RunDir.create(started / "runs/a", grown) as rundir:
        assert [key for key, _, _ in rundir.changed] == ["max_rounds"]
    # a run stored with a relative path (before this) goes on from where it was started,
    # and elsewhere its path's error says where it was looked for
    with RunStore(started / "runs/a" / "run.sqlite") as store:
        store.set_meta("config", stored.to_json().replace(str(started / "data"), "data"))
    with pytest.raises(ConfigError, match=re.escape(
            f"task.path='data/q.jsonl': no such file or folder (read from {elsewhere})")):
        load_config(None, [], base=stored_config(started / "runs/a"))
    monkeypatch.chdir(started)
    with RunDir.create("runs/a", load_config(None, [], base=stored_config("runs/a"))) \
            as rundir:
        assert rundir.changed == [] and rundir.config.task.path == stored.task.path


def test_explanations_found_too_short_after_paying_are_lengthened_by_the_same_command(
        tmp_path, caplog):
    """The warning that the student writes fewer tokens than its targets came after round
    0 was paid, and said to start a new run: paying for the same targets again."""
    run_dir = tmp_path / "run"
    server = OracleServer()
    with serve(server) as (_, url):
        assert main(["-q", "run", *TINY, *openai_overrides(url), "student.max_new_tokens=8",
                     "max_rounds=0", "--run-dir", str(run_dir)]) == 0
        said = re.search(r"Stop the run \(Ctrl-C\) and give the same command "
                         r"student.max_new_tokens=(\d+): it goes on from there",
                         caplog.text)
        paid = Counter(a.prompt_hash for a in server.ledger)
        longer = int(said.group(1))
        caplog.clear()
        assert main(["-q", "run", f"student.max_new_tokens={longer}", "max_rounds=1",
                     "--run-dir", str(run_dir)]) == 0
        assert "longer than" not in caplog.text
    delivered = Counter(a.prompt_hash for a in server.ledger)
    assert set(delivered.values()) == {1} and len(delivered) > len(paid)  # none twice
    assert stored_config(run_dir).student.max_new_tokens == longer > 8
    assert [r.round for r in load_records(run_dir)] == [0, 1]
    # the first command again puts the short limit back: said, as a lowered budget is
    assert main(["-q", "run", "student.max_new_tokens=8", "--run-dir", str(run_dir)]) == 0
    assert f"student.max_new_tokens=8 (lowered from {longer})" in caplog.text


def test_a_paid_run_goes_on_with_its_student_run_otherwise_and_keeps_its_stop(tmp_path):
    """Where and how the student runs (its generation batch, device, backend, dtype) was
    refused as a change to stored work, so a run out of GPU memory in generation could
    only start over and pay again. A scale.* change alone was not kept, so the next
    resume ran where the first did. Neither decides the stop reason again."""
    with RunDir.create(tmp_path / "run", load_config(None, TINY)) as rundir:
        rundir.store.save_teacher_call("key", 0, "q", {}, TeacherReply(
            "annotate", None, ["1 + 1 = 2"], "2", 10, 5), 0.0001)
        rundir.store.save_round(_record(1, StopReason.LOW_GAIN))
    elsewhere = ["student.batch_size=8", "student.device=cpu", "student.backend=hf",
                 "student.dtype=float32"]
    grown = load_config(None, elsewhere, base=stored_config(tmp_path / "run"))
    never = []  # neither change decides the stop reason again (a low gain would not stand)
    with RunDir.create(tmp_path / "run", grown) as rundir:
        assert sorted(key for key, _, _ in rundir.changed) == [
            "student.backend", "student.batch_size", "student.device", "student.dtype"]
        rundir.save_config(never.append)
    assert stored_config(tmp_path / "run").student.batch_size == 8
    moved = load_config(None, ["scale.workers=3"], base=stored_config(tmp_path / "run"))
    with RunDir.create(tmp_path / "run", moved) as rundir:  # where it runs alone:
        rundir.save_config(never.append)  # kept too (it was not)
    assert stored_config(tmp_path / "run").scale.workers == 3
    assert never == []
    assert load_records(tmp_path / "run")[-1].stop_reason == StopReason.LOW_GAIN
    refused = load_config(None, ["student.samples=3"], base=stored_config(tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"student.samples=2 \(not 3\)"):
        RunDir.create(tmp_path / "run", refused)


def _record(round, stop_reason=StopReason.NOT_STOPPED):
    return RoundRecord(round, 16, 16, 100, 50, 0.001, 0.5, None, "elad", "revise", 0,
                       stop_reason)


@pytest.mark.parametrize("stored, new, decided", [
    # a finished run's last stop reason is decided again under the new config
    (_record(1, StopReason.BUDGET_SPENT), {"budget_usd": 1.0}, StopReason.NOT_STOPPED),
    # an unfinished run that has reached the new max_rounds stops
    (_record(1), {"max_rounds": 1}, StopReason.MAX_ROUNDS),
    # an unfinished run below it goes on as it was
    (_record(1), {"max_rounds": 5, "teacher.concurrency": 2}, None),
])
def test_a_grown_config_is_kept_with_the_stop_reason_decided_under_it(tmp_path, stored,
                                                                      new, decided):
    config = load_config(None, TINY)
    with RunDir.create(tmp_path, config) as rundir:
        rundir.store.save_teacher_call("key", 0, "q", {}, TeacherReply(
            "annotate", None, ["1 + 1 = 2"], "2", 10, 5), 0.0001)
        rundir.store.save_round(stored)
        rundir.save_checkpoint(stored.round,  # what a run that goes on needs
                               lambda folder: folder.mkdir(parents=True))
    grown = load_config(None, [*TINY, *(f"{k}={v}" for k, v in new.items())])
    asked = []
    with RunDir.create(tmp_path, grown) as rundir:
        assert stored_config(tmp_path) == config  # not kept before the reason is decided
        assert [key for key, _, _ in rundir.changed] == sorted(new)
        rundir.save_config(lambda record: asked.append(record) or decided)
    assert stored_config(tmp_path) == grown
    assert asked == ([stored] if decided is not None else [])
    last = load_records(tmp_path)[-1]
    assert last.stop_reason == (stored.stop_reason if decided is None else decided)


def test_a_budget_put_back_down_by_a_runs_first_command_is_a_warning(tmp_path, caplog):
    """Grown on the command line (budget_usd=1.5), then run again with the config that
    started it (0.5): the run goes on under 0.5, said as 'was 1.5' at info level before."""
    with RunDir.create(tmp_path, load_config(None, [*TINY, "budget_usd=1.5"])) as rundir:
        rundir.store.save_teacher_call("key", 0, "q", {}, TeacherReply(
            "annotate", None, ["1 + 1 = 2"], "2", 10, 5), 0.0001)
    caplog.set_level("INFO", logger="elad")
    with RunDir.create(tmp_path, load_config(None, [*TINY, "budget_usd=0.5",
                                                    "teacher.concurrency=3"])) as run:
        run.save_config(lambda record: None)  # no round: nothing to decide
    [said] = [r for r in caplog.records if "going on with" in r.message]
    assert said.levelname == "WARNING" and said.message.endswith(
        "going on with budget_usd=0.5 (lowered from 1.5), teacher.concurrency=3 (was 8) "
        "(the config given replaces the run's: give the higher value again to keep it)")


def test_a_grown_run_reread_with_its_first_command_says_how_many_rounds_it_did():
    """Grown to max_rounds=3, then run again with the command that made it (max_rounds
    2), or max_rounds lowered after a run: it stays stopped, and its stop reason counts
    the rounds done and says max_rounds was lowered (before: '5 rounds' under
    'max_rounds=2', unexplained)."""
    config = load_config(None, [*TINY, "max_rounds=2"])
    assert why_stopped(config, _record(3, StopReason.MAX_ROUNDS)) == \
        "max_rounds=2: 3 rounds after the seed round done, more than max_rounds: it was " \
        "lowered after them"
    assert why_stopped(config, _record(2, StopReason.MAX_ROUNDS)) == \
        "max_rounds=2: 2 rounds after the seed round done"


def _damaged_store(run_dir, how: str):
    run_dir.mkdir()
    with RunStore(run_dir / "run.sqlite") as store:
        store.set_meta("config", load_config(None, TINY).to_json())
        store.add_examples("pool", [Example(f"q{i}", "arithmetic", f"Start with {i}. " * 9)
                                    for i in range(3000)])
    path = run_dir / "run.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if how == "truncated" else b"\x7f" * len(data))
    return path


@pytest.mark.parametrize("how, error", [("truncated", "database disk image is malformed"),
                                        ("overwritten", "file is not a database")])
def test_a_damaged_store_is_a_one_line_error_and_is_left_as_it_is(tmp_path, capsys, how,
                                                                   error):
    path = _damaged_store(tmp_path / "run", how)
    damaged = path.read_bytes()
    for command in (["report", str(path.parent)], ["run", "--run-dir", str(path.parent)],
                    ["score", "--run-dir", str(path.parent), "--out", "x.jsonl"],
                    ["export", str(path.parent), "--out", str(tmp_path / "model")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"elad: error: {path} is damaged ({error}); elad leaves it "
                              f"as it is. `sqlite3 {path} .recover | sqlite3 "
                              "recovered.sqlite` may save what is readable")
        assert err.count("\n") == 1
    assert path.read_bytes() == damaged
    assert [p.name for p in path.parent.iterdir()] == ["run.sqlite"]  # nothing added


def test_a_reader_that_goes_away_is_quiet_and_the_report_is_written(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunStore(run_dir / "run.sqlite") as store:
        store.set_meta("config", load_config(None, TINY).to_json())
        store.save_round(_record(0, StopReason.MAX_ROUNDS))
    gone, stdout = os.pipe()
    os.close(gone)  # `| head` that has already exited
    report = subprocess.run([sys.executable, "-m", "elad.cli", "report", str(run_dir),
                             "--format", "json"], stdout=stdout, stderr=subprocess.PIPE,
                            text=True, timeout=120, check=False)
    os.close(stdout)
    assert report.returncode == 141  # 128 + SIGPIPE, as `cat big | head` reports
    assert report.stderr == f"wrote {run_dir / 'report.html'}\n"
    assert "<html" in (run_dir / "report.html").read_text()
