"""Explanations scored per second: the batched scorer against a per-question loop.

Both paths do the same work for the same student and questions: sample K explanations
per question, then compute the answer confidence after every step prefix (u_intra) and
the answer disagreement (u_inter). The batched path is what `elad run` uses
(`explain.explain` + `explain.prefix_confidences`); the loop path calls `generate` once
per question and sample and the model once per step prefix. Sampled texts differ between
the two (the random streams differ), so the loop also scores the batched path's
explanations, and the scores of both are compared on those.

    python benchmarks/scoring_throughput.py                      # trains a small student
    python benchmarks/scoring_throughput.py --run-dir runs/default --questions 48
    python benchmarks/scoring_throughput.py --train-steps 5 --questions 4 \
        student.hidden_size=32 student.layers=2   # a smoke test: seconds, no real figures

Arguments after the options are `elad run` overrides (default: the offline default).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from elad.answers import format_explanation
from elad.config import load_config
from elad.explain import explain, prefix_confidences, score
from elad.student import load_student, new_student
from elad.tasks import answer_type, load_task, synthetic
from elad.types import Explanation


def trained_student(config, pool, steps: int = 300):
    """A student good enough to write plausible explanations (300 steps: a minute of
    training)."""
    pairs = [(e.question, format_explanation(*synthetic.solve(e.question))) for e in pool[:300]]
    student = new_student(config.student, [e.question for e in pool] + [p[1] for p in pairs],
                          seed=0)
    student.train(pairs, steps=steps, lr=config.student.learning_rate, seed=0)
    return student


def loop_sample(student, examples, k, temperature, seed):
    """One `generate` call per question and sample."""
    results = {}
    for i, example in enumerate(examples):
        samples = []
        for j in range(k):
            [[generation]] = student.generate([example.question], 1, temperature,
                                              seed + 1000 * i + j)
            samples.append(generation.text)
        results[example.id] = samples
    return results


def loop_confidences(student, examples, explanations):
    """One forward pass per step prefix."""
    result = {}
    for example in examples:
        per_sample = []
        for e in explanations[example.id]:
            if e.answer is None:
                per_sample.append(None)
                continue
            per_sample.append([student.answer_probabilities(
                [(example.question, e.steps[:i], e.answer)])[0]
                for i in range(len(e.steps) + 1)])
        result[example.id] = per_sample
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="use the last student of this run")
    parser.add_argument("--questions", type=int, default=None,
                        help="default: the candidates one round scores (config.candidates)")
    parser.add_argument("--train-steps", type=int, default=300,
                        help="training of the small student (without --run-dir)")
    parser.add_argument("overrides", nargs="*", help="`elad run` overrides, key=value")
    args = parser.parse_args()

    config = load_config(None, args.overrides)
    data = load_task(config.task, config.seed)
    if args.run_dir:
        last = sorted(Path(args.run_dir, "checkpoints").glob("round-[0-9]*"))[-1]
        student = load_student(config.student, last)
    else:
        print("training a small student (about a minute)...", file=sys.stderr)
        student = trained_student(config, data.pool, args.train_steps)
    examples = data.pool[-(args.questions or config.candidates):]
    k, temperature = config.student.samples, config.student.temperature
    n_explanations = len(examples) * k

    started = time.perf_counter()
    batched = explain(student, examples, answer_type, k, temperature, seed=1)
    batched_conf = prefix_confidences(student, examples, batched)
    batched_seconds = time.perf_counter() - started

    started = time.perf_counter()
    loop_sample(student, examples, k, temperature, seed=1)
    loop_conf = loop_confidences(student, examples, batched)  # same explanations
    loop_seconds = time.perf_counter() - started

    batched_scores = score(examples, batched, batched_conf, config.alpha, _no_greedy(examples))
    loop_scores = score(examples, batched, loop_conf, config.alpha, _no_greedy(examples))
    max_diff = max(max(abs(a.u_intra - b.u_intra), abs(a.u_inter - b.u_inter),
                       abs(a.u - b.u)) for a, b in zip(batched_scores, loop_scores))
    prefixes = [(q, tuple(e.steps[:i]), e.answer) for q, samples in batched.items()
                for e in samples if e.answer is not None for i in range(len(e.steps) + 1)]

    print(f"student {student.name}, {len(examples)} questions x K={k} = "
          f"{n_explanations} explanations, {len(prefixes)} step prefixes "
          f"({len(set(prefixes))} distinct; the batched scorer scores each once)")
    print(f"{'path':<22}{'seconds':>10}{'explanations/s':>18}")
    print(f"{'per-question loop':<22}{loop_seconds:>10.2f}{n_explanations / loop_seconds:>18.1f}")
    print(f"{'batched (elad)':<22}{batched_seconds:>10.2f}"
          f"{n_explanations / batched_seconds:>18.1f}")
    print(f"speed-up: {loop_seconds / batched_seconds:.1f}x")
    print(f"largest score difference (u_inter, u_intra, u): {max_diff:.2e}")
    return 0


def _no_greedy(examples):
    return {e.id: Explanation([], None, 0.0) for e in examples}


if __name__ == "__main__":
    sys.exit(main())
