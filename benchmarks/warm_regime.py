"""The cold and the warm tiny student (issue 24 item 1) on the same synthetic target:
for each regime and seed, a short `elad run` (elad.loop.run, oracle teacher), then

- the seed round's test accuracy (greedy), and after every round (the curve's shape);
- where the seed round's student goes wrong: of its sampled explanations (K at the run's
  temperature, on pool questions) whose answer is wrong, the share whose first wrong
  step (the oracle teacher's first_wrong_step) is after step 1, and the mean first
  wrong step; and of those with any wrong step (a revision starts from it even under a
  right answer) the share after step 1, by family; in the warm regime also before any
  teacher target (the warm-up's student alone);
- the warm-up's wall time (built once, in a fresh cache unless --cache is given).

    PYTHONPATH=src python benchmarks/warm_regime.py --seeds 0,1,2
    PYTHONPATH=src python benchmarks/warm_regime.py --quick      # a smoke test, < 1 min
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from elad.config import load_config
from elad.explain import explain
from elad.loop import run
from elad.student import load_student
from elad.student.warm import warm_dir, warm_student
from elad.tasks import answer_type, hidden_answer, load_task, synthetic
from elad.teacher.oracle import first_wrong_step


def overrides(args, regime: str, seed: int) -> list[str]:
    return [f"seed={seed}", f"student.warmup={'curriculum' if regime == 'warm' else 'none'}",
            f"task.min_steps={args.min_steps}", f"task.pool_size={args.pool_size}",
            f"task.test_size={args.test_size}", f"seed_size={args.seed_size}",
            f"round_size={args.round_size}", f"candidates={args.candidates}",
            f"max_rounds={args.rounds}", "budget_usd=100", "saturation=1.0",
            f"student.hidden_size={args.hidden_size}", f"student.layers={args.layers}",
            f"student.heads={args.heads}", f"student.seed_train_steps={args.seed_steps}",
            *args.set]


def first_errors(config, student, probe: int) -> dict:
    """Where `student` errs in its sampled explanations on `probe` pool questions: over
    those with a wrong answer, and over all with a wrong step (what a revision starts
    from: a step can be wrong under a right answer), overall and by family."""
    pool = load_task(config.task, config.seed).pool[:probe]
    sampled = explain(student, pool, answer_type, config.student.samples,
                      config.student.temperature, seed=1)
    wrong_answer, flawed, n = [], defaultdict(list), 0
    for example in pool:
        canonical, right = synthetic.solve(example.question)
        for e in sampled[example.id]:
            n += 1
            first = first_wrong_step(list(e.steps), e.answer, canonical, right)
            if e.answer != hidden_answer(example):
                wrong_answer.append(first)
            if first is not None:
                flawed[example.task].append(first)

    def after_step_1(firsts: list[int]) -> float:
        return sum(f > 1 for f in firsts) / max(1, len(firsts))

    every_flawed = [f for firsts in flawed.values() for f in firsts]
    return {"wrong_share": len(wrong_answer) / n,
            "after_step_1": after_step_1(wrong_answer),
            "mean_first_error": statistics.mean(wrong_answer) if wrong_answer else None,
            "flawed_share": len(every_flawed) / n,
            "flawed_after_step_1": after_step_1(every_flawed),
            "flawed_by_task": {task: round(after_step_1(firsts), 2)
                               for task, firsts in sorted(flawed.items())}}


def one_run(args, regime: str, seed: int, out: Path) -> dict:
    config = load_config(None, overrides(args, regime, seed))
    run_dir = out / f"{regime}-{seed}"
    started = time.perf_counter()
    records, _ = run(config, run_dir)
    result = {"regime": regime, "seed": seed, "wall_s": time.perf_counter() - started,
              "curve": [r.test_accuracy for r in records],
              "cost": [round(sum(x.cost_usd for x in records[:i + 1]), 4)
                       for i in range(len(records))],
              "seed_by_task": records[0].test_accuracy_by_task,
              **first_errors(config, load_student(config.student, run_dir / "checkpoints"
                                                  / "round-0"), args.probe)}
    if regime == "warm":  # and before any teacher target: the stand-in's prior
        result["untrained"] = first_errors(config, warm_student(config.student),
                                           args.probe)
    return result


def warmup_time(args) -> str:
    config = load_config(None, overrides(args, "warm", 0))
    info = json.loads((warm_dir(config.student) / "warmup.json").read_text())
    return (f"{info['wall_s']}s wall, {info.get('cpu_s')}s CPU (all threads), loss "
            f"{info['train_loss']:.3f}")


def show(results: list[dict]) -> None:
    for r in results:
        curve = " ".join(f"{a:.2f}" for a in r["curve"])
        mean_first = (f"{r['mean_first_error']:.2f}" if r["mean_first_error"] is not None
                      else "-")
        print(f"{r['regime']:4s} seed {r['seed']}: seed round {r['curve'][0]:.3f} "
              f"{r['seed_by_task']}; wrong samples {r['wrong_share']:.2f}, first error "
              f"after step 1 {r['after_step_1']:.2f} (mean step {mean_first}); with a "
              f"wrong step {r['flawed_share']:.2f}, first after step 1 "
              f"{r['flawed_after_step_1']:.2f} {r['flawed_by_task']}; curve "
              f"{curve} at ${r['cost'][-1]:.3f}; {r['wall_s']:.0f}s")
        if "untrained" in r:
            u = r["untrained"]
            print(f"     before any target: with a wrong step {u['flawed_share']:.2f}, "
                  f"first after step 1 {u['flawed_after_step_1']:.2f} "
                  f"{u['flawed_by_task']}")
    for regime in dict.fromkeys(r["regime"] for r in results):
        mine = [r for r in results if r["regime"] == regime]

        def mean(values):
            return f"{statistics.mean(values):.3f}"

        rounds = min(len(r["curve"]) for r in mine)
        curve = " ".join(mean([r["curve"][i] for r in mine]) for i in range(rounds))
        print(f"{regime}: mean over {len(mine)} seeds: seed round "
              f"{mean([r['curve'][0] for r in mine])}, "
              f"first error after step 1 {mean([r['after_step_1'] for r in mine])} "
              f"(of wrong answers), {mean([r['flawed_after_step_1'] for r in mine])} (of "
              f"explanations with a wrong step), "
              f"curve {curve}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--regimes", default="cold,warm")
    parser.add_argument("--min-steps", type=int, default=1, help="task.min_steps of the "
                        "target, in both regimes (1: every length, the default task)")
    parser.add_argument("--pool-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--seed-size", type=int, default=100)
    parser.add_argument("--round-size", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed-steps", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--probe", type=int, default=100, help="pool questions sampled "
                        "to see where the seed round's student errs")
    parser.add_argument("--cache", help="ELAD_CACHE to use (default: a fresh one, so "
                        "the warm-up is built and timed)")
    parser.add_argument("--set", nargs="*", default=[], help="more config overrides")
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny "
                        "student, one seed, one round")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.pool_size, args.test_size, args.seed_size = "0", 120, 24, 16
        args.round_size, args.candidates, args.rounds, args.seed_steps = 8, 12, 1, 16
        args.hidden_size, args.layers, args.heads, args.probe = 32, 2, 2, 12
        args.set += ["student.samples=2", "student.max_new_tokens=64",
                     "student.train_steps=8"]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ELAD_CACHE"] = args.cache or str(Path(tmp) / "cache")
        if args.quick:  # a short warm-up: the smoke test checks the plumbing only
            import elad.student.warm as warm
            warm.WARMUP = {**warm.WARMUP, "questions": 60, "beginnings": 15,
                          "train_steps": 10}
        results = [one_run(args, regime, int(seed), Path(tmp))
                   for regime in args.regimes.split(",") for seed in args.seeds.split(",")]
        show(results)
        if "warm" in args.regimes:
            print(f"warm-up (when it was built): {warmup_time(args)}")


if __name__ == "__main__":
    main()
