"""Every script in benchmarks/ runs at a tiny size and prints its figures, so that a
changed interface breaks a test here instead of a command the README advertises.
(benchmarks/gpu_check.sh only installs the GPU extras and runs gpu_check.py;
benchmarks/gpu_carry.sh only downloads packages for a GPU machine with no registry.)"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

from elad.cli import main
from elad.rundir import STORE
from elad.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY_STUDENT = [o for o in TINY if o.startswith("student.")]


def run_script(name: str, *args: str, timeout: int = 900) -> str:
    """The script's stdout, after asserting it exited 0. The timeout only stops a hang:
    on 2 idle cores each script takes seconds (CPU seconds, not wall, on a busy one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def figure(pattern: str, out: str) -> float:
    """The number the pattern's group matches in the output."""
    match = re.search(pattern, out, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{out}"
    return float(match[1])


NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory) -> Path:
    """A tiny `elad bench` grid (one regime, one configuration, one seed, two rounds)."""
    out = tmp_path_factory.mktemp("bench")
    assert main(["-q", "bench", *TINY, "--out", str(out), "--configs", "elad/revise",
                 "--seeds", "0", "--jobs", "1", "--regimes", "cold"]) == 0
    return out


def test_scoring_throughput():
    out = run_script("scoring_throughput.py", "--train-steps", "5", "--questions", "4",
                     *TINY)
    assert figure(rf"^speed-up: {NUMBER}x", out) > 0
    # the loop scores the batched path's explanations: the same scores
    assert figure(rf"^largest score difference .*: {NUMBER}", out) < 1e-4


def test_ray_scoring_throughput():
    out = run_script("ray_scoring_throughput.py", "--questions", "2", "--samples", "2",
                     "--batch-questions", "1", "--train-steps", "2", *TINY_STUDENT)
    # printed (at this size the work is too small for a meaningful ratio: it may read 0.00)
    assert figure(rf"^2 workers / 1 worker, without the start: {NUMBER}x", out) >= 0
    rows = re.findall(r"^Ray, \d worker\(s\) .* (True|False)$", out, re.MULTILINE)
    assert rows == ["True", "True"], out  # Ray's results equal the one-process ones


def test_accelerate_training():
    out = run_script("accelerate_training.py", *TINY, "max_rounds=1")
    rows = re.findall(r"^(in this process|accelerate, 2 processes) +(\d) +([\d.]+) +"
                      r"\S+ +(\d+)$", out, re.MULTILINE)
    assert len(rows) == 4, out
    calls = {label: [r[3] for r in rows if r[0] == label] for label, *_ in rows}
    assert calls["in this process"] == calls["accelerate, 2 processes"]
    assert figure(rf"^accelerate, 2 processes +whole run {NUMBER} s", out) > 0


def test_decode_overhead():
    out = run_script("decode_overhead.py", "--layers", "2", "--rows", "2", "--steps", "4")
    assert figure(rf"^ +merged / unmerged +{NUMBER}", out) > 0


def test_forecast_synthetic():
    out = run_script("forecast_synthetic.py", "--runs", "1")
    assert "1. The measured curve" in out
    for kind in ("power", "exp", "log", "sigmoid"):  # coverage/MAE/bias/width per cell
        assert 0 <= figure(rf"^ +{kind} +3 rounds {NUMBER}/", out) <= 1


def test_warm_regime():
    out = run_script("warm_regime.py", "--quick")
    for regime in ("cold", "warm"):
        assert figure(rf"^{regime} seed 0: seed round {NUMBER}", out) <= 1
        shares = figure(rf"^{regime}: mean over 1 seeds: .* {NUMBER} \(of explanations "
                        r"with a wrong step\)", out)
        assert 0 <= shares <= 1
    # the warm regime also says where the warm-up's student alone goes wrong, by family
    before = re.search(r"^ +before any target: with a wrong step (\S+), first after step 1 "
                       r"(\S+) \{(.*)\}$", out, re.MULTILINE)
    assert before and 0 < float(before[1]) <= 1 and 0 <= float(before[2]) <= 1
    assert set(re.findall(r"'(\w+)':", before[3])) <= {"arithmetic", "coin_flip", "largest"}


def test_forecast_bench(tiny_bench, tmp_path):
    out = run_script("forecast_bench.py", str(tiny_bench / "cold"), "--json",
                     str(tmp_path / "f.json"))
    assert re.search(r"^1 runs \(elad-revise; seeds \[0\]\)", out, re.MULTILINE), out
    assert "2. The stop rule replayed" in out and "3. Where the round 3" in out
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["runs"] == ["elad-revise-s0"] and len(figures["stop_rule"]) == 6


def test_revision_savings(tiny_bench):
    out = run_script("revision_savings.py", str(tiny_bench / "cold" / "runs" / "elad-revise-s0"))
    assert "elad-revise-s0: paid $" in out and "revisions 100%" in out  # mode=revise
    paid = figure(rf"; ratio {NUMBER}", out)
    # the run revised every question: the counterfactual "revise all" is what it paid
    assert figure(rf"; revising all: {NUMBER}", out) == paid
    assert figure(rf"the cheaper of the two: {NUMBER}", out) <= min(paid, 1.0)
    assert 0 < figure(rf"^dollars per target .*: paid {NUMBER}", out) < 10
    # the pointers are judged on every explanation the teacher found wrong: here, each
    # of the run's own revisions with a first wrong step
    store = RunStore(tiny_bench / "cold" / "runs" / "elad-revise-s0" / STORE)
    wrong = sum(c.reply.first_error is not None for c in store.teacher_calls()
                if c.round >= 1 and c.ok)
    store.close()
    shares = re.search(r"^of (\d+) wrong explanations, .* the least stable step \(the hint\) "
                       r"in (\d+)%, the first unsure step in (\d+)%$", out, re.MULTILINE)
    assert shares and int(shares[1]) == wrong and wrong > 0, out
    assert 0 <= int(shares[2]) <= 100 and 0 <= int(shares[3]) <= 100


def test_make_benchmarks_md(tiny_bench, tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    out = run_script("make_benchmarks_md.py", str(tiny_bench / "bench.json"), "--out",
                     str(md))
    assert f"wrote {md}" in out
    text = md.read_text()
    assert "elad/revise" in text and "| " in text and "<!-- notes:" in text
    assert "## What ELAD buys, cold regime: the tiny student trained from scratch" in text
    assert "### cold: The questions" in text


def test_teacher_throughput():
    out = run_script("teacher_throughput.py", "--latency", "0.05", "--requests", "32")
    assert figure(rf"^speed-up of concurrency 32 over 1: {NUMBER}x", out) > 1


def test_training_engines():
    out = run_script("training_engines.py", "--steps", "4", "--targets", "16", "--test",
                     "4", *TINY)
    for engine in ("elad fine_tune", "elad fine_tune, padded", "TRL SFTTrainer"):
        assert figure(rf"^{engine} +{NUMBER} ", out) > 0  # steps/s


def test_gpu_check_cpu_dry_run(tmp_path, shared_data):
    out = tmp_path / "figures.json"
    printed = run_script("gpu_check.py", "--cpu-dry-run", "--rounds", "1", "--data",
                         str(shared_data / "gsm8k"), "--run-dir", str(tmp_path), "--out",
                         str(out))
    assert "projected for one such device" in printed
    figures = json.loads(out.read_text())
    assert [r["round"] for r in figures["records"]] == [0, 1]
    assert figures["comparison"]["hf"]["explanations_per_s"] > 0


def test_million_pool():
    out = run_script("million_pool.py", "--questions", "3000", "--baseline", "1000",
                     "--rounds", "1", "--candidates", "60")
    assert re.search(r"^pool of 2,800 questions \(3,000 lines\) against 900 \(1,000 "
                     r"lines\); 2 rounds", out, re.MULTILINE), out
    assert figure(rf"^load s +{NUMBER} ", out) > 0
    assert figure(rf"^per-round overhead s \(mean, rounds 1\+\) +{NUMBER} ", out) > 0
    assert figure(rf"^peak RSS MB +{NUMBER} ", out) > 0
    assert figure(rf"^report s \(diagnostic \+ report.html\) +{NUMBER} ", out) > 0
    assert re.search(r"^load when the finished run is run again \(its store holds the "
                     r"pool\): 1,000: [\d.]+ s \([\d.]+ CPU s\), 3,000: [\d.]+ s", out,
                     re.MULTILINE), out
    assert re.search(r"^goal peak memory: \d+ MB < 2048 MB: (met|MISSED)$", out,
                     re.MULTILINE), out


def test_training_memory():
    out = run_script("training_memory.py", "--rows", "2", "--length", "40", "--steps", "1")
    assert "path not taken" not in out, out
    own, chunked = (figure(rf"^ *{side} loss: .* loss {NUMBER}$", out)
                    for side in ("own", "chunked"))
    assert chunked == pytest.approx(own, rel=1e-4)
    assert figure(rf"^chunked / own: peak memory {NUMBER}x", out) > 0


@pytest.mark.slow  # the gemma-3-270m preset (the first use converts it: minutes)
def test_student_text(shared_data):
    out = run_script("student_text.py", "--steps", "1", "--targets", "2", "--data",
                     str(shared_data / "gsm8k"))
    assert out.count("gsm8k-test-") == 16  # 2 questions x K=4, before and after
    assert figure(rf"^trained 1 steps of 4 in {NUMBER} s", out) > 0


def test_cost_fraction_between_rounds(tmp_path):
    def run(strategy, mode, seed, before, accuracies):
        return {"strategy": strategy, "mode": mode, "seed": seed, "costs": [0.1, 0.2],
                "accuracies": accuracies, "accuracy_before": before,
                "final_accuracy": accuracies[-1], "cost_usd": 0.2}
    runs = [run("random", "annotate", 0, 0.5, [0.6, 0.8]),
            run("targeted", "auto", 0, 0.5, [0.7, 0.9]),  # 0.8 reached at round 1: 0.15
            run("random", "annotate", 1, 0.5, [0.6, 0.8]),
            run("targeted", "auto", 1, 0.5, [0.85, 0.9]),  # at round 0: 0.3 / 0.35 of it
            run("random", "annotate", 2, 0.5, [0.7, 0.6]),  # did not rise: left out, as
            run("targeted", "auto", 2, 0.5, [0.7, 0.9])]  # the bench leaves it out
    grid = tmp_path / "bench.json"
    grid.write_text(json.dumps({"runs": runs}))
    out = run_script("cost_fraction_between_rounds.py", str(grid))
    assert "targeted/auto: cost to reach random/annotate's final accuracy" in out
    assert re.search(r"the bench's\): 0\.75 \[.*\], 2 of 2 \(1\.00, 0\.50\)$", out, re.M), out
    assert re.search(r"between rounds: +0\.59 \[.*\], 2 of 2 \(0\.75, 0\.43\)$", out, re.M), out
    assert "test noise" not in out  # no test size in the grid: nothing to redraw
    # a test so large that redrawing its accuracies changes no crossing, then a tiny one
    for n_test, expected in ((10 ** 6, r"0\.750 mean, 2\.0 seeds reach it on average \(2 "),
                             (5, r"0\.\d+ mean")):
        grid.write_text(json.dumps({"runs": runs, "config": {"task": {"test_size": n_test}}}))
        out = run_script("cost_fraction_between_rounds.py", str(grid))
        assert re.search(rf"test noise again \(n={n_test}\): {expected}.*as measured: "
                         r"0\.750$", out, re.M), out
    assert not re.search(r"0\.750 mean, 2\.0 seeds", out), out  # 5 questions: noisy
