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


def test_sigterm_stops_a_bench_and_its_workers_with_one_line(tmp_path):
    """`elad bench` stopped while its workers make runs: its line and exit 130, the
    workers gone, and no warning about their queues (os._exit left their semaphores)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    bench = subprocess.Popen(
        [sys.executable, "-m", "elad.cli", "bench", *TINY, "--out", str(tmp_path),
         "--regimes", "cold", "--configs", "random/annotate", "--seeds", "0",
         "--jobs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": src})
    try:
        started = tmp_path / "cold" / "runs" / "seed-round-s0" / "run.sqlite"
        while not started.exists() and bench.poll() is None:
            time.sleep(0.2)
        time.sleep(1)
        workers = descendants(bench.pid)
        code, err, left = stopped_by_sigterm(bench, workers)
    finally:
        bench.kill()
    assert code == 130, err
    assert err.strip().endswith("interrupted; rerun the same command to resume"), err
    assert "leaked" not in err and "Traceback" not in err
    assert len(workers) >= 2 and not left  # the resource tracker and the run's worker


def running(pid: str) -> bool:
    """Whether the process is there and not a zombie (one whose parent has exited stays
    a zombie here where PID 1 does not reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_a_run_on_a_local_ray_cluster_and_the_cluster_with_it(tmp_path):
    """Ray's own SIGTERM handler aborted the process (exit 134, a stack dump) and a
    prompt exit left the local cluster's processes running; the run now stops as on
    Ctrl-C, and the cluster it started goes with it."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    run = subprocess.Popen(
        [sys.executable, "-m", "elad.cli", "run", *TINY, "max_rounds=6",
         "scale.engine=ray", "scale.workers=1", "--run-dir", str(tmp_path / "run")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": src})
    try:
        for line in run.stderr:
            if "Ray cluster (local)" in line:
                break
        time.sleep(1)
        cluster = descendants(run.pid)  # the local cluster's raylet, GCS server, agents
        code, err, left = stopped_by_sigterm(run, cluster)
    finally:
        run.kill()
    assert code == 130, err
    assert err.strip().endswith("interrupted; rerun the same command to resume"), err
    assert "SIGTERM received" not in err
    assert len(cluster) >= 3 and not left


def stopped_by_sigterm(process: subprocess.Popen, started: list[str]
                       ) -> tuple[int, str, list[str]]:
    """SIGTERM to `process`: its exit status, its stderr, and which of the processes it
    `started` are still running 30 s after it exited (each goes once it has cleaned up)."""
    process.send_signal(signal.SIGTERM)
    err = process.stderr.read()
    code = process.wait(timeout=120)
    deadline = time.perf_counter() + 30
    while ((left := [pid for pid in started if running(pid)])
           and time.perf_counter() < deadline):
        time.sleep(0.2)
    return code, err, left


def descendants(pid: int) -> list[str]:
    """The processes `pid` started, and theirs."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    return [*children, *(grand for child in children for grand in descendants(int(child)))]


def test_ctrl_c_while_the_command_imports_is_one_line(capsys, monkeypatch):
    """A Ctrl-C in the command's first half second, while elad.cli imports, ended with
    a traceback through importlib."""
    import elad.__main__ as command

    class Interrupted:  # the Ctrl-C, as it lands in the middle of elad.cli's imports
        def find_spec(self, name, path=None, target=None):
            if name == "elad.cli":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "elad.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupted(), *sys.meta_path])
    assert command.main() == 130
    assert capsys.readouterr().err == "interrupted\n"
