"""Ctrl-C on `elad run` while teacher requests are in flight: it waits for their replies
(they are paid for; test_openai_teacher checks none is paid twice), saying so; a second
Ctrl-C ends the process at once, with its line, neither waiting for the replies nor for
the interpreter to finalize torch's objects (which took ~20 s)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from elad.fakes.oracle_server import OracleServer, serve

from conftest import TINY


def test_ctrl_c_waits_for_the_replies_and_ctrl_c_again_exits_promptly(tmp_path):
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    with serve(OracleServer(latency_s=60)) as (_, url):
        run = subprocess.Popen(
            [sys.executable, "-m", "elad.cli", "run", *TINY, "max_rounds=0",
             "teacher=openai", f"teacher.base_url={url}", "teacher.api_key_env=",
             "teacher.price_input_per_mtok=1", "teacher.price_output_per_mtok=1",
             "--run-dir", str(tmp_path / "run")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
            # a shell without job control starts background jobs with SIGINT ignored,
            # and the child would inherit that: Ctrl-C's default, as in a terminal
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            for line in run.stderr:  # the seed round's requests are being sent
                if "requests to send" in line:
                    break
            time.sleep(2)
            run.send_signal(signal.SIGINT)
            for line in run.stderr:
                if "interrupted: waiting up to 60s for the" in line:
                    break
            assert run.poll() is None  # waiting for the replies in flight
            run.send_signal(signal.SIGINT)
            interrupted = time.perf_counter()
            rest = run.stderr.read()
            code = run.wait(timeout=60)
            seconds = time.perf_counter() - interrupted
        finally:
            run.kill()
    assert code == 130
    assert rest.strip().endswith("interrupted; rerun the same command to resume")
    assert seconds < 10  # the replies would take 60 s
