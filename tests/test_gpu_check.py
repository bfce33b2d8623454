"""benchmarks/gpu_check.py in its CPU dry run: the tests' tiny Llama on GSM8K, its decode
and training steps profiled, then with the reference teacher a seed round and two
rounds, then the backend comparison, elad's vLLM path running against the tests'
stand-in for vLLM (tests/fake_vllm.py; vLLM itself needs a GPU)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path, shared_data):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-dry-run",
         "--data", str(shared_data / "gsm8k"), "--run-dir", str(tmp_path), "--out",
         str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert [r["round"] for r in figures["records"]] == [0, 1, 2]
    assert {"0/trained", "1/trained", "2/trained", "1/explained and scored"} <= set(
        figures["timings"])
    assert figures["vllm"].startswith("stand-in") and figures["comparison"]["vllm"]
    agreement = figures["comparison"]["agreement"]
    assert agreement["confidence_max_abs_diff"] < 1e-5 and agreement["same_chosen"] == 1
    assert figures["comparison"]["hf"]["prefixes"] > 0
    profile = figures["profile"]
    assert set(profile["decode_ms"]) == {"1", "64", "16"} and profile["train_ms"] > 0
    assert profile["decode_ms_lora_unmerged"] > 0
    # each decode's own memory peak (on a GPU): the warm-up, unmerged, 1, 4x, the batch,
    # full length
    assert [(m["rows"], m["merged"]) for m in profile["decode_memory"]] == [
        (16, True), (16, False), (1, True), (64, True), (16, True), (16, True)]
    assert profile["decode_profile"]["top"] and profile["decode_profile"]["host_ms"] > 0
    # on a CPU every attention path is torch's own: the same gradient
    assert profile["gradient_agreement"]["cosine"] > 0.9999
    assert profile["gradient_agreement"]["non_finite"] == 0
    assert len(profile["base_samples"]) == 2 and len(figures["trained_samples"]) == 3
