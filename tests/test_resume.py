"""Killing a run at any moment loses no paid teacher work and changes no result."""

import html
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from elad.cli import main
from elad.config import load_config
from elad.loop import run
from elad.reading.report import write_run_report
from elad.store import RunStore
from elad.teacher.oracle import OracleTeacher

from conftest import TINY


class Crash(Exception):
    pass


class CrashingOracle(OracleTeacher):
    """Dies after `survive` calls, as a process killed mid-phase would."""

    def __init__(self, survive: int, max_output_tokens: int):
        super().__init__(max_output_tokens)
        self.left = survive

    def _tick(self):
        if self.left == 0:
            raise Crash
        self.left -= 1

    async def complete(self, request, allowance):
        self._tick()
        return await super().complete(request, allowance)


def test_crash_in_the_teacher_phase_then_resume(tmp_path):
    config = load_config(None, TINY)
    reference, _ = run(config, tmp_path / "straight")

    with pytest.raises(Crash):  # dies in round 1, after 3 of its 8 revisions
        run(config, tmp_path / "crashed",
            teacher=CrashingOracle(16 + 3, config.teacher.max_output_tokens))
    resumed, teacher = run(config, tmp_path / "crashed")
    assert teacher.new_calls == reference[-1].teacher_calls - (16 + 3)
    assert resumed == reference


def test_a_paid_round_after_a_lowered_max_rounds_says_it_is_not_trained_on(tmp_path,
                                                                            capsys):
    """Killed in round 2's teacher phase, then rerun with max_rounds=1: the run stops
    after round 1, and round 2's paid replies were only 'a round not finished' in the
    spent figure, with nothing saying they are not trained on or how to use them."""
    config = load_config(None, TINY)
    with pytest.raises(Crash):  # dies in round 2, after 3 of its 8 requests
        run(config, tmp_path / "run",
            teacher=CrashingOracle(16 + 8 + 3, config.teacher.max_output_tokens))
    assert main(["-q", "run", "--run-dir", str(tmp_path / "run"), "max_rounds=1"]) == 0
    out = capsys.readouterr().out
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        round_2 = store.teacher_calls(round=2)
    paid = sum(c.cost_usd for c in round_2)
    assert len(round_2) == 3 and paid > 0
    note = (f"round 2's replies (${paid:.4f}) were paid for before the run stopped after "
            "round 1, and are not trained on: a rerun that goes past round 1 "
            "(max_rounds=2 or more) trains on them, and `elad export-data` writes them")
    assert f", round 2 ${paid:.4f}) of $0.5; {note}; forecast" in out
    page = html.unescape(write_run_report(tmp_path / "run").read_text())
    assert f"R{note[1:]}." in page


def _selected_in_round_1(db_path) -> int:
    try:
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT COUNT(*) FROM selections WHERE round = 1").fetchone()[0]
    except sqlite3.Error:
        return 0


def _report(run_dir) -> str:
    return subprocess.run([sys.executable, "-m", "elad.cli", "report", str(run_dir),
                           "--format", "json"], capture_output=True, text=True,
                          check=True).stdout


def test_sigkill_in_a_later_round_then_rerun(tmp_path):
    command = [sys.executable, "-m", "elad.cli", "-q", "run", *TINY]
    straight = tmp_path / "straight"
    subprocess.run([*command, "--run-dir", str(straight)], check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--run-dir", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _selected_in_round_1(killed / "run.sqlite") == 0 and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # round 1 selected: mid-round from here on
    process.wait()
    assert process.returncode == -signal.SIGKILL

    rerun = subprocess.run([*command, "--run-dir", str(killed)], check=True,
                           capture_output=True, text=True)
    assert "stopped: max rounds" in rerun.stdout
    assert _report(killed) == _report(straight)  # same calls, tokens, cost, accuracy


def test_a_resumed_round_none_of_whose_requests_fits_stops_with_the_budget_spent(
        tmp_path, capsys, caplog):
    """A kill after a round selected its questions, whose lost requests are held at their
    worst case, left too little for any of them at its worst case. The resume skipped
    them all, then trained on the same targets and recorded a round that bought nothing:
    a flat point of the curve, at no cost. The stop line says the holds stopped it, and
    what goes on."""
    from elad.reading.run_numbers import load_records

    run_dir = tmp_path / "run"
    assert main(["-q", "run", *TINY, "mode=annotate", "max_rounds=0",
                 "--run-dir", str(run_dir)]) == 0
    with RunStore(run_dir / "run.sqlite") as store:
        spent, calls = store.spent_usd(), store.call_totals()["calls"]
        asked = {c.example_id for c in store.teacher_calls()}
        left = [e.id for e in store.examples("pool") if e.id not in asked]
        store.save_selection(1, left[:8])  # what a kill after the selection leaves
        store.send_ahead(None, "lost", 1, left[0], 0.01)  # its request in flight, lost
    # a round's worth of requests at what round 0 paid each, not one at its worst case
    budget = spent + 0.01 + 1.5 * spent / calls
    caplog.set_level("INFO", logger="elad")
    assert main(["-q", "run", f"budget_usd={budget}", "max_rounds=1",
                 "--run-dir", str(run_dir)]) == 0
    # none was sent: not a teacher that failed them
    assert "round 1: teacher: 0 of 8 requests got a usable reply, 8 not sent (the " \
        "budget) in" in caplog.text
    out = capsys.readouterr().out
    assert "stopped: budget spent" in out and ("the requests whose replies never arrived "
                                               "(a kill, a crash) hold their worst case "
                                               "($0.0100) for good") in out
    assert "a higher budget_usd goes on" in out
    [record] = load_records(run_dir)  # round 0 alone, now with its stop reason
    assert record.stop_reason == "budget spent" and not (run_dir / "checkpoints" /
                                                         "round-1").exists()
    with RunStore(run_dir / "run.sqlite") as store:
        assert store.call_totals()["calls"] == calls  # nothing fit, nothing sent
