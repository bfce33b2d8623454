"""Never pay twice, never overspend: what the fake OpenAI server billed, request by
request (`OracleServer.bills`), checked against the budget and the run store, through
pending batches resumed differently, seeded SIGKILLs, injected faults and `elad bench`."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from elad.bench import BenchOptions, bench
from elad.cli import EXIT_BATCH_RUNNING, main
from elad.config import load_config
from elad.fakes.oracle_server import OracleServer, serve
from elad.loop import run
from elad.store import RunStore

from conftest import TINY, openai_overrides

BATCH = ["teacher.batch=true", "teacher.batch_poll_s=0.05", "teacher.batch_wait=false"]


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def recorded(run_dir) -> set[str]:
    """The prompt hashes of the answered calls in a run's store."""
    with RunStore(run_dir / "run.sqlite") as store:
        return {prompt_hash(c.request["prompt"]) for c in store.teacher_calls()}


def billed_usd(server: OracleServer) -> float:
    return sum(usd for _, usd in server.bills())


def test_a_pending_batch_is_collected_never_paid_again(tmp_path, capsys):
    """40 prompts in a pending batch; the run resumed with a setting that cannot change
    (refused, naming the batch), then with teacher.batch=false (still pending: it
    waits; done: collected, the rest online): each prompt is billed once."""
    where = ["--run-dir", str(tmp_path / "run")]
    base = ["run", *TINY, "max_rounds=0", "seed_size=40"]
    with serve(OracleServer(batch_delay_s=600)) as (server, url):
        batch = [*base, *openai_overrides(url, *BATCH)]
        assert main([*batch, *where]) == EXIT_BATCH_RUNNING
        capsys.readouterr()
        assert main([*batch, "student.seed_train_steps=8", *where]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "student.seed_train_steps=16 (not 8)" in err
        assert "40 in batches" in err and "not started over" in err
        online = [*batch, "teacher.batch=false"]
        assert main([*online, *where]) == EXIT_BATCH_RUNNING  # collected, not sent again
        assert server.bills() == [] and list(server.batches) == ["batch_1"]
        server.batch_delay_s = 0
        assert main([*online, *where]) == 0
        assert main([*online, "student.seed_train_steps=8", *where]) == 2
    bills = Counter(h for h, _ in server.bills())
    assert len(bills) == 40 and set(bills.values()) == {1}
    assert list(server.batches) == ["batch_1"] and all(a.batch for a in server.ledger)
    assert recorded(tmp_path / "run") == set(bills)
    with RunStore(tmp_path / "run" / "run.sqlite") as store:  # billed at the batch price
        assert store.spent_usd() == pytest.approx(billed_usd(server))
        assert store.unconfirmed_usd() == 0.0


KILL_BUDGET = 0.03  # binds: a straight run of these settings spends more


def kill_and_resume(tmp_path, kills: int, seed: int, step: int = 6,
                    budget: float = KILL_BUDGET, rounds: int = 2) -> dict:
    """A small run (concurrency 4) SIGKILLed `kills` times at points a seeded RNG
    picks: after 1 to `step` more billed replies, at once (replies in flight) or after
    a random pause (teacher, training or evaluation); then resumed to the end."""
    rng = random.Random(seed)
    run_dir = tmp_path / "run"
    server = OracleServer(latency_s=0.02)
    in_flight_at_kill: list[set[str]] = []
    with serve(server) as (_, url):
        command = [sys.executable, "-m", "elad.cli", "-q", "run", *TINY,
                   *openai_overrides(url, "teacher.concurrency=4",
                                     f"budget_usd={budget}", f"max_rounds={rounds}"),
                   "--run-dir", str(run_dir)]
        for kill in range(kills):
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            start = len(server.bills())
            target = start + rng.randint(1, step)
            while len(server.bills()) < target and process.poll() is None:
                time.sleep(0.005)
            time.sleep(0 if kill % 2 == 0 else rng.uniform(0, 1.5))  # teacher, or any
            if process.poll() is not None:
                break
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            # billed by the process killed, and not in its store: lost in flight
            in_flight_at_kill.append({h for h, _ in server.bills()[start:]}
                                     - recorded(run_dir))
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    with RunStore(run_dir / "run.sqlite") as store:
        spent, unconfirmed = store.spent_usd(), store.unconfirmed_usd()
        rounds = store.rounds()
    return {"server": server, "in_flight": in_flight_at_kill, "spent": spent,
            "unconfirmed": unconfirmed, "rounds": rounds, "budget": budget}


def check_kills(found: dict) -> None:
    server = found["server"]
    billed = billed_usd(server)
    assert billed <= found["budget"]  # the server's bill, not the store's
    assert found["spent"] >= billed - 1e-12  # the store never understates what was billed
    lost = Counter(h for kill in found["in_flight"] for h in kill)
    print(f"server billed ${billed:.6f} of ${found['budget']} over {len(server.bills())} "
          f"replies; store spent ${found['spent']:.6f}, unconfirmed "
          f"${found['unconfirmed']:.6f}; in flight at each kill: "
          f"{[len(k) for k in found['in_flight']]}")
    for prompt, times in Counter(h for h, _ in server.bills()).items():
        assert times <= 1 + lost[prompt], "billed twice though it was not in flight at a kill"
    assert found["rounds"] and found["rounds"][-1].stop_reason
    if any(found["in_flight"]):  # a kill that lost replies leaves them unconfirmed
        assert found["unconfirmed"] > 0


def test_two_seeded_sigkills_then_resume_never_overspend(tmp_path):
    check_kills(kill_and_resume(tmp_path, kills=2, seed=1))


@pytest.mark.slow
def test_ten_seeded_sigkills_then_resume_never_overspend(tmp_path):
    found = kill_and_resume(tmp_path, kills=10, seed=2, step=2, budget=0.15, rounds=8)
    check_kills(found)
    assert len(found["in_flight"]) == 10  # every kill came before the run had ended


def test_thirty_percent_faults_nothing_answered_is_billed_twice(tmp_path):
    """429s, 500s, replies slower than the timeout, cut-off and HTML bodies on 30% of
    attempts, over a whole small run: each prompt got one usable reply delivered, and
    the store's spend covers everything billed (unknown usage at its worst case)."""
    server = OracleServer(fault_rate=0.3, retry_after="0.05", slow_s=0.8)
    with serve(server) as (_, url):
        records, _ = run(load_config(None, [*TINY, *openai_overrides(url)]),
                         tmp_path / "run")
    faults = Counter(a.outcome for a in server.ledger)
    assert set(faults) >= {"ok", "429", "500", "slow", "truncated", "nonjson"}
    delivered = Counter(a.prompt_hash for a in server.ledger if a.outcome == "ok")
    assert set(delivered.values()) == {1}
    assert set(delivered) == recorded(tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        assert store.spent_usd() >= billed_usd(server)
        assert store.unconfirmed_usd() == 0.0
        print(f"faults {dict(faults)}: server billed ${billed_usd(server):.6f}, "
              f"store spent ${store.spent_usd():.6f}")
    assert records[-1].teacher_calls == len(delivered)


def test_bench_pays_each_seed_rounds_questions_once_per_seed(tmp_path):
    """The grid runs and the whole-pool reference start from the seed round's paid
    replies: with a paid teacher, no request is billed twice in a seed."""
    server = OracleServer()
    with serve(server) as (_, url):
        config = load_config(None, [*TINY, "max_rounds=1", *openai_overrides(url)])
        bench(config, tmp_path / "bench", BenchOptions(seeds=["0"], jobs=1,
                                                       configurations=["random/annotate"],
                                                       regimes=["cold"], whole_pool=True))
    bills = Counter(h for h, _ in server.bills())
    runs = tmp_path / "bench" / "cold" / "runs"
    seed_round, grid_run = recorded(runs / "seed-round-s0"), recorded(runs / "random-annotate-s0")
    whole_pool = recorded(runs / "whole-pool-s0")
    assert len(seed_round) == 16 and seed_round < grid_run and seed_round < whole_pool
    assert len(whole_pool) == 120 and all(bills[h] == 1 for h in seed_round)
    with RunStore(runs / "whole-pool-s0" / "run.sqlite") as store:  # trained on them all
        assert len(store.targets()) == 120
    # the grid run's round 1 and the reference each pay their own questions
    assert sum(bills.values()) == len(whole_pool) + len(grid_run - seed_round)
