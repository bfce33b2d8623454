"""Round steps 1-2 (K explanations per candidate, every step prefix scored) in one
process against a local Ray cluster with 1 and 2 workers: explanations/s, and whether
the Ray results equal the one-process ones.

    OMP_NUM_THREADS=1 python benchmarks/ray_scoring_throughput.py --questions 192
    python benchmarks/ray_scoring_throughput.py --questions 4 --samples 2 \
        --batch-questions 1 --train-steps 5 student.hidden_size=32   # a smoke test

Arguments after the options are `elad run` overrides.

Every Ray call starts its actors (each imports torch and loads the student), so the
wall time includes that start; a call with one question per worker measures it, and
the last column leaves it out. The machine's load average is printed before and after:
other work on the cores slows every column.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from scoring_throughput import trained_student

from elad.config import load_config
from elad.explain import explain_and_score
from elad.scale.ray_scoring import connect, explain_and_score_on_ray
from elad.tasks import answer_type, load_task


def same(a, b) -> bool:
    """The same explanations, chosen explanations and least stable steps."""
    return all(
        [(e.steps, e.answer) for e in a.explanations[s.example_id]]
        == [(e.steps, e.answer) for e in b.explanations[s.example_id]]
        and (s.chosen, s.least_stable_step) == (t.chosen, t.least_stable_step)
        for s, t in zip(a.scores, b.scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=192)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--batch-questions", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=300,
                        help="training of the small student")
    parser.add_argument("overrides", nargs="*", help="`elad run` overrides, key=value")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    config = load_config(None, [*args.overrides, f"student.samples={args.samples}",
                                "scale.engine=ray",
                                f"scale.batch_questions={args.batch_questions}"])
    data = load_task(config.task, 0)
    student = trained_student(config, data.pool, args.train_steps)
    checkpoint = Path(tempfile.mkdtemp(prefix="elad-bench-")) / "student"
    student.save(checkpoint)
    examples = data.pool[-args.questions:]
    explanations = args.questions * args.samples

    started = time.perf_counter()
    local = explain_and_score(student, examples, answer_type, config, 1)
    local_s = time.perf_counter() - started
    print(f"{'where':<18} {'wall s':>7} {'start s':>8} {'explanations/s':>15} "
          f"{'without start':>14} same")
    print(f"{'one process':<18} {local_s:>7.1f} {'':>8} {explanations / local_s:>15.1f}")

    started = time.perf_counter()
    connect(config.scale)  # a local cluster with 2 CPUs
    print(f"(starting the local Ray cluster took {time.perf_counter() - started:.1f} s)")
    rates = {}
    for workers in (1, 2):
        config.scale.workers = workers
        started = time.perf_counter()  # the start alone: one question for each worker
        explain_and_score_on_ray(dataclasses.replace(config, scale=dataclasses.replace(
            config.scale, batch_questions=1)), checkpoint, examples[:workers], 1)
        start_s = time.perf_counter() - started
        started = time.perf_counter()
        scored = explain_and_score_on_ray(config, checkpoint, examples, 1)
        wall = time.perf_counter() - started
        rates[workers] = explanations / max(1e-9, wall - start_s)
        print(f"{f'Ray, {workers} worker(s)':<18} {wall:>7.1f} {start_s:>8.1f} "
              f"{explanations / wall:>15.1f} {rates[workers]:>14.1f} {same(local, scored)}")
    print(f"2 workers / 1 worker, without the start: {rates[2] / rates[1]:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
