"""The same run with each round's training in this process and as an `accelerate launch`
job of 2 processes: test accuracy and training time per round, and teacher calls (which
must be the same: the job never sees the teacher).

    OMP_NUM_THREADS=1 python benchmarks/accelerate_training.py max_rounds=1

Arguments are `elad run` overrides (default: the offline default, one round after the
seed round). On 2 cores the 2 processes share them, so this shows equal results, not a
speed-up; the launch costs a process start per round.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from elad.config import load_config
from elad.loop import run


def one_run(overrides: list[str], run_dir: Path) -> tuple[list, dict[int, float], float]:
    trained: dict[int, float] = {}

    class Timings(logging.Handler):
        def emit(self, record):
            match = re.search(r"round (\d+): trained in ([\d.]+)s", record.getMessage())
            if match:
                trained[int(match[1])] = float(match[2])

    handler = Timings()
    logging.getLogger("elad").addHandler(handler)
    logging.getLogger("elad").setLevel(logging.INFO)
    started = time.perf_counter()
    records, teacher = run(load_config(None, overrides), run_dir)
    logging.getLogger("elad").removeHandler(handler)
    return records, trained, time.perf_counter() - started


def main() -> None:
    overrides = sys.argv[1:] or ["max_rounds=1"]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="elad-accelerate-bench-"))
    print(f"{'training':<24} {'round':>5} {'test acc':>9} {'train s':>8} {'calls':>6}")
    for label, extra in (("in this process", []),
                         ("accelerate, 2 processes", ["scale.train_processes=2"])):
        records, trained, wall = one_run([*overrides, *extra], work / label.split()[0])
        for r in records:
            print(f"{label:<24} {r.round:>5} {r.test_accuracy:>9.3f} "
                  f"{trained.get(r.round, float('nan')):>8.1f} {r.teacher_calls:>6}")
        print(f"{label:<24} whole run {wall:.0f} s", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
