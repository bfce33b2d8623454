"""Killing a run at any moment loses no paid teacher work and changes no result."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from elad.config import load_config
from elad.loop import run
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
