"""Pools at scale: a pool of a million questions in one JSON-lines file.

Writes a JSONL file of N synthetic-looking questions (`{"question": ..., "answer": ...}`,
every line with an answer, so that the file reads the same whether or not unlabeled lines
are accepted), then runs elad's own loop on it (`elad.loop.run`, a jsonl task using the
whole file: `task.pool_size` = N - `task.test_size`) in a fresh process per size, and
prints for each size:

- load: seconds in `Run.start`: reading and parsing the file, drawing the pool and test
  samples, storing every question in the run store, the stop rule; and again when the
  finished run is run a second time (its store holds the pool: checked, not rewritten).
- per round: the round's wall time (and CPU time: what a busy shared machine does not
  inflate) minus the time spent inside the student and the teacher, i.e. the overhead
  that may scale with the pool: finding the questions not asked yet and sampling the
  round's `candidates`, building and pricing their requests,
  ranking and selecting within the budget, the store's writes (scores, selection, the
  teacher ledger, targets, the round record), the forecast and the stop rule. The student
  is a stub whose calls return canned text at once (`score_candidates`, `accuracy` and
  `Student.train` are timed and subtracted; its checkpoint is a small file, counted); the
  teacher is a stub that answers at once (its `complete` timed and subtracted). Round 0
  (the seed round) also builds the student's first corpus; it is shown on its own.
- peak memory: the process's peak resident set (`resource.getrusage`, ru_maxrss), which
  includes the interpreter and imports (printed: the process before and after importing
  elad and torch); with --tracemalloc also the peak of what Python allocated during the
  run, imports excluded (slower: off by default).
- the run store's size on disk.
- the reading side: seconds for what `elad run` prints at its end (the selection
  diagnostic) and `elad report` (report.html), and the peak memory after them.

Goals (issue 22): load and per-round overhead each under 60 s, peak memory under 2 GB,
on 2 cores. A baseline size (default 10,000 questions) runs beside it; the ratios say how
each figure scales (a ratio near the size ratio: linear in the pool).

    PYTHONPATH=src .venv/bin/python benchmarks/million_pool.py [--questions 1000000]
        [--baseline 10000] [--rounds 3] [--candidates 400] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

ITEMS = ("apples", "coins", "books", "marbles", "cards", "stamps", "shells", "pens")
OPS = (("add", lambda a, b: a + b), ("subtract", lambda a, b: a - b),
       ("multiply by", lambda a, b: a * b))


def write_pool(path: Path, n: int, seed: int = 0) -> None:
    """n questions of two to four arithmetic steps, one JSON object a line."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            value = rng.randint(1, 99)
            text = [f"Question {i}: Sam has {value} {rng.choice(ITEMS)}."]
            for _ in range(rng.randint(2, 4)):
                name, op = rng.choice(OPS)
                operand = rng.randint(1, 9)
                value = op(value, operand)
                text.append(f"Then {name} {operand}.")
            text.append("How many are there now?")
            f.write(json.dumps({"question": " ".join(text), "answer": str(value)}) + "\n")


def rss_mb() -> float:
    """The process's resident set now, in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def now() -> tuple[float, float]:
    """(wall, CPU) seconds; the process's CPU time is what other work on a shared
    machine does not inflate."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


class Clock:
    """(wall, CPU) seconds spent inside the stubbed student and teacher, per round."""

    def __init__(self):
        self.inside = (0.0, 0.0)

    def add(self, start: tuple[float, float]) -> None:
        spent = since(start)
        self.inside = (self.inside[0] + spent[0], self.inside[1] + spent[1])

    def timed(self, function):
        def wrapper(*args, **kwargs):
            started = now()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(started)
        return wrapper


class StubStudent:
    """Answers every question with one step and the answer 1, at once."""

    name = "stub"

    def __init__(self, clock: Clock):
        from elad.answers import format_explanation

        self.text = format_explanation(["Sam has 1 thing."], "1")
        self.train = clock.timed(self.train)
        self.embed = clock.timed(self.embed)

    def generate(self, questions, k=1, temperature=0.0, seed=0):
        from elad.student.protocol import Generation

        return [[Generation(self.text, -1.0, (-0.5, -0.5))] * k for _ in questions]

    def answer_probabilities(self, items):
        return [0.5] * len(items)

    def embed(self, questions):
        """Four numbers per question from its checksum: something for strategy=targeted
        to cluster (a real student's forward pass is not elad's overhead)."""
        return [[(zlib.crc32(q.encode()) >> shift & 255) / 255 for shift in (0, 8, 16, 24)]
                for q in questions]

    def train(self, pairs, steps, lr, seed, batch_size=32):
        return {"train_loss": 1.0}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "stub.txt").write_text("a stub student")


class StubTeacher:
    """Finds the student's first step wrong (so no round saturates) and answers 2."""

    name = "stub"
    max_output_tokens = 512

    def __init__(self, clock: Clock):
        self.clock = clock

    def identity(self) -> dict:
        return {"teacher": self.name}

    def worst_case_input_tokens(self, prompt: str) -> int:
        from elad.budget import count_tokens

        return count_tokens(prompt)

    async def complete(self, request, allowance):
        from elad.teacher.protocol import counted_reply

        started = now()
        steps = ["Sam has 2 things."]
        if request.op == "annotate":
            reply = counted_reply(request, {"steps": steps, "answer": "2"},
                                  self.max_output_tokens, None, steps, "2")
        else:
            reply = counted_reply(request, {"first_error": 1, "continuation": steps,
                                            "answer": "2"}, self.max_output_tokens, 1,
                                  steps, "2")
        self.clock.add(started)
        return reply

    async def aclose(self) -> None:
        pass


def measure(path: Path, n: int, args: argparse.Namespace, run_dir: Path) -> dict:
    """One size's figures, in this process (a fresh one per size: ru_maxrss is the
    process's peak)."""
    empty_mb = rss_mb()
    from elad import loop
    from elad.config import load_config

    figures: dict = {"questions": n, "rounds": [], "imports_mb": rss_mb()}
    test_size = min(200, n // 10)
    config = load_config(None, [
        "task.kind=jsonl", f"task.path={path}", f"task.pool_size={n - test_size}",
        f"task.test_size={test_size}", "seed_size=100", "round_size=50",
        f"candidates={args.candidates}", f"max_rounds={args.rounds}", "budget_usd=100",
        "teacher=openai", "teacher.base_url=http://127.0.0.1:9/v1",
        "teacher.api_key_env=", "teacher.model=gpt-4o"])
    clock = Clock()
    loop.score_candidates = clock.timed(loop.score_candidates)
    loop.accuracy = clock.timed(loop.accuracy)
    loop.new_student = lambda *a, **k: StubStudent(clock)
    started = [now()]
    start = loop.Run.start.__func__

    def timed_start(cls, *a, **k):
        begun = now()
        run = start(cls, *a, **k)
        figures["load_s"], figures["load_cpu_s"] = since(begun)
        figures["rss_after_load_mb"] = rss_mb()
        figures["pool"] = len(run.pool)
        clock.inside, started[0] = (0.0, 0.0), now()
        return run

    loop.Run.start = classmethod(timed_start)

    def on_round(record) -> None:
        wall, cpu = since(started[0])
        figures["rounds"].append({"round": record.round, "wall_s": wall,
                                  "student_teacher_s": clock.inside[0],
                                  "overhead_s": wall - clock.inside[0],
                                  "overhead_cpu_s": cpu - clock.inside[1]})
        clock.inside, started[0] = (0.0, 0.0), now()

    if args.tracemalloc:
        tracemalloc.start()
    begun = now()
    records, _ = loop.run(config, run_dir, on_round, teacher=StubTeacher(clock))
    figures["run_s"] = since(begun)[0]
    figures["stop"] = str(records[-1].stop_reason)
    figures["empty_mb"] = empty_mb
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["rss_end_mb"] = rss_mb()
    if args.tracemalloc:
        figures["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    figures["store_mb"] = sum(p.stat().st_size for p in run_dir.glob("run.sqlite*")) / 2**20
    from elad import report as write_report
    from elad.reading.diagnostics import selection_diagnostic

    begun = now()  # what `elad run` prints at its end, and `elad report`
    selection_diagnostic(run_dir)
    write_report(run_dir)
    figures["report_s"], figures["report_cpu_s"] = since(begun)
    figures["peak_rss_report_mb"] = peak_rss_mb()
    return figures


def in_child(path: Path, n: int, args: argparse.Namespace, run_dir: Path) -> dict:
    """`measure` in a fresh Python process (its own peak memory)."""
    command = [sys.executable, __file__, "--measure", str(path), "--questions", str(n),
               "--run-dir", str(run_dir), "--rounds", str(args.rounds), "--candidates",
               str(args.candidates), *(["--tracemalloc"] if args.tracemalloc else [])]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the {n}-question run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(f: dict) -> dict[str, float]:
    later = [r for r in f["rounds"] if r["round"] > 0]
    wall, cpu = [r["overhead_s"] for r in later], [r["overhead_cpu_s"] for r in later]
    return {"load s": f["load_s"], "load CPU s": f["load_cpu_s"],
            "round 0 overhead s": f["rounds"][0]["overhead_s"],
            "round 0 overhead CPU s": f["rounds"][0]["overhead_cpu_s"],
            "per-round overhead s (mean, rounds 1+)": sum(wall) / len(wall),
            "per-round overhead s (max, rounds 1+)": max(wall),
            "per-round overhead CPU s (mean, rounds 1+)": sum(cpu) / len(cpu),
            "peak RSS MB": f["peak_rss_mb"], "RSS after load MB": f["rss_after_load_mb"],
            **({"Python heap peak MB (run)": f["traced_peak_mb"]} if "traced_peak_mb" in f
               else {}),
            "run store MB": f["store_mb"],
            "report s (diagnostic + report.html)": f["report_s"],
            "report CPU s": f["report_cpu_s"],
            "peak RSS with the report MB": f["peak_rss_report_mb"]}


def report(base: dict, big: dict) -> None:
    print(f"pool of {big['pool']:,} questions ({big['questions']:,} lines) against "
          f"{base['pool']:,} ({base['questions']:,} lines); {len(big['rounds'])} rounds, "
          f"stopped: {big['stop']}; an empty process: {big['empty_mb']:.0f} MB, with elad "
          f"and torch imported: {big['imports_mb']:.0f} MB")
    left, right = summary(base), summary(big)
    print(f"{'figure':44} {base['questions']:>12,} {big['questions']:>12,} {'ratio':>8}")
    for name, value in right.items():
        ratio = value / left[name] if left[name] else float("nan")
        print(f"{name:44} {left[name]:12.2f} {value:12.2f} {ratio:8.2f}")
    print("rounds (overhead s / student+teacher stubs s):",
          ", ".join(f"{r['round']}: {r['overhead_s']:.2f}/{r['student_teacher_s']:.2f}"
                    for r in big["rounds"]))
    print("load when the finished run is run again (its store holds the pool): "
          + ", ".join(f"{f['questions']:,}: {f['rerun_load_s'][0]:.1f} s "
                      f"({f['rerun_load_s'][1]:.1f} CPU s)" for f in (base, big)))
    later = [r["overhead_s"] for r in big["rounds"] if r["round"] > 0]
    goals = [("load", big["load_s"] < 60, f"{big['load_s']:.1f} s < 60 s"),
             ("per-round overhead", max([big["rounds"][0]["overhead_s"], *later]) < 60,
              f"{max([big['rounds'][0]['overhead_s'], *later]):.1f} s < 60 s"),
             ("peak memory", big["peak_rss_mb"] < 2048,
              f"{big['peak_rss_mb']:.0f} MB < 2048 MB")]
    for name, met, text in goals:
        print(f"goal {name}: {text}: {'met' if met else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds after the seed round")
    parser.add_argument("--candidates", type=int, default=400)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the Python heap's peak (slower)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args, args.run_dir)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = []
        for n in (args.baseline, args.questions):
            path = Path(tmp) / f"pool-{n}.jsonl"
            begun = time.perf_counter()
            write_pool(path, n)
            print(f"wrote {n:,} questions ({path.stat().st_size / 2**20:.0f} MB) in "
                  f"{time.perf_counter() - begun:.1f} s", flush=True)
            figures.append(in_child(path, n, args, Path(tmp) / f"run-{n}"))
            again = in_child(path, n, args, Path(tmp) / f"run-{n}")  # finished: rereads
            figures[-1]["rerun_load_s"] = (again["load_s"], again["load_cpu_s"])
            path.unlink()
    report(*figures)


if __name__ == "__main__":
    main()
