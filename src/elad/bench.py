"""`elad bench`: a grid of runs that differ only in what is compared, in each regime.

    elad bench [CONFIG] --out DIR [key=value ...]

Strategies x teacher modes x seeds, on the same pool, test set, budget and student, at
the bench's sizes where the config leaves them (bench_names.SIZES), plus with
--whole-pool per seed the reference "distil the whole pool" (every pool question
annotated, trained once), in every regime (regimes.py: the cold and the warm student).
A regime's grid is DIR/<regime>/; each run is an ordinary run directory under
DIR/<regime>/runs/ (`elad run --run-dir` and `elad report` read it); a finished one is
reused, an unfinished one resumed, so the grid can be interrupted and run again.
DIR/bench.json and DIR/index.html summarise the regimes.

An unranked round 0 (random seed questions annotated, the student's first training)
does not depend on the strategy or the mode, so it is computed once per seed, in
DIR/runs/seed-round-s<seed> (a run with max_rounds=0), and every grid run of that seed
whose round 0 is unranked starts from a copy of it (`fork_seed_round`, which checks that
the configs agree on everything round 0 depends on). A forked run is the run the loop
would have made. A run whose student ranks its own round 0 (a warm or pretrained
student, asking.ranks_seed_round) makes it itself. The whole-pool reference starts with
the seed round's teacher replies in its cache (`fork_seed_calls`), so no request is paid
twice in a seed.

The grid compares at equal money: its runs do not stop for saturation (the config's
rule is replayed on their stores for the summary's `sat.` column instead), so a
configuration whose student the teacher confirms early spends its budget too.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from elad.asking import ranks_seed_round
from elad.bench_names import (
    BASELINE,
    CONFIGURATIONS,
    RUNS,
    SEEDS,
    baseline_name,
    check_settings_kept,
    checked_grid,
    grid_baseline,
    grid_run_name,
    seed_round_name,
    whole_pool_name,
)
from elad.budget import teacher_prices
from elad.config import ConfigError, RunConfig
from elad.lock import hold
from elad.loop import round_steps, run
from elad.progress import bars_shown
from elad.reading.bench_numbers import run_metrics
from elad.reading.bench_summary import write_regimes_summary, write_summary
from elad.reading.report import write_run_report
from elad.regimes import REGIMES, bench_sized, description, regime_config, regime_names
from elad.rundir import RunDir, differences, finished, stored_config
from elad.stopping import StopRule
from elad.tasks import load_task
from elad.teacher import make_teacher
from elad.teacher.gateway import annotate_request, worst_case_cost
from elad.testset import teacher_test_size

PR_SET_PDEATHSIG = 1  # prctl: the signal a process gets when its parent ends

# Settings that do not act in an unranked round 0 (random questions, asking.ranks_seed_round):
# runs differing in these alone share a seed round.
AFTER_SEED_ROUND = ("strategy", "mode", "alpha", "round_size", "candidates", "saturation",
                    "saturation_window", "max_rounds", "hint", "max_similarity",
                    "error_threshold", "explore", "cost_aware", "stop_gain_per_usd",
                    "rank_seed_round")


@dataclass
class GridRun:
    """One run of the grid: its directory name under DIR/runs and its config."""

    name: str
    kind: str  # "grid", "seed-round" (shared round 0) or "whole-pool" (the reference)
    config: RunConfig


def grid(base: RunConfig, configurations=CONFIGURATIONS, seeds=SEEDS,
         whole_pool: bool = False) -> list[GridRun]:
    """Every run of the benchmark, in the order they are made: per seed the shared
    seed round, a run per (strategy, mode) configuration, then (`whole_pool`) the
    whole-pool reference. No run stops for saturation (`saturation=1`): every
    configuration spends the budget, and the summary replays `base`'s rule instead."""
    runs = []
    for seed in seeds:
        seeded = dataclasses.replace(base, seed=seed, saturation=1.0)
        runs.append(GridRun(seed_round_name(seed), "seed-round",
                            dataclasses.replace(seeded, max_rounds=0, rank_seed_round=False)))
        for strategy, mode in configurations:
            runs.append(GridRun(grid_run_name(strategy, mode, seed), "grid",
                                dataclasses.replace(seeded, strategy=strategy, mode=mode)))
        if whole_pool:
            runs.append(GridRun(whole_pool_name(seed), "whole-pool",
                                whole_pool_config(seeded)))
    return runs


def whole_pool_config(config: RunConfig) -> RunConfig:
    """The reference: a seed round as large as the pool (every question annotated),
    trained once for as many optimizer steps as a grid run takes over all its rounds
    (`grid_run_steps`), so both get the same training compute. Its budget is the worst
    case of annotating every question of the task's pool, rounded up to a cent and one
    more."""
    student = dataclasses.replace(config.student, seed_train_steps=grid_run_steps(config))
    prices = teacher_prices(config.teacher)
    teacher = make_teacher(config.teacher, config.task)
    data = load_task(config.task, config.seed)  # the pool, with a test set to annotate
    labels = config.task.labels
    worst = sum(worst_case_cost(teacher, prices, annotate_request(teacher, e, labels))
                for e in data.pool)
    pool_size = len(data.pool) - teacher_test_size(config, data)
    return dataclasses.replace(config, seed_size=pool_size, max_rounds=0,
                               budget_usd=math.ceil(worst * 100 + 1) / 100,
                               student=student, rank_seed_round=False)


def grid_run_steps(config: RunConfig) -> int:
    """The optimizer steps a grid run takes over all its rounds when every round buys
    `round_size` targets: the seed round's, then each round's (loop.round_steps)."""
    return config.student.seed_train_steps + sum(
        round_steps(config.student, config.seed_size + r * config.round_size)
        for r in range(1, config.max_rounds + 1))


def fork_seed_round(base_dir: Path, run_dir: Path, config: RunConfig) -> None:
    """Start the run of `config` in `run_dir` from round 0 of the run in `base_dir`:
    its examples, seed selection, teacher calls, targets, round record and student
    checkpoint are copied. Refused (ConfigError) when the two configs differ in anything
    but AFTER_SEED_ROUND, or `config` ranks its own round 0. The copy is made aside and
    renamed into place, so an interrupted fork leaves nothing behind."""
    if ranks_seed_round(config):
        raise ConfigError(f"{run_dir.name} ranks its own round 0 (rank_seed_round); it "
                          "cannot start from a shared one")
    with RunDir.open(base_dir) as base:
        records = base.store.rounds()
        if not records:
            raise ConfigError(f"{base_dir} has no finished round 0 to start from")
        for key, theirs, mine in differences(base.config, config):
            if key.split(".")[0] not in AFTER_SEED_ROUND:
                raise ConfigError(f"{base_dir}: its round 0 was made with {key}={theirs!r}, "
                                  f"not {mine!r}; it cannot be shared")
        partial = run_dir.with_name(run_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with RunDir.create(partial, config) as fork:
            fork.store.copy_seed_round(base.store.path)
            fork.copy_checkpoint(base, 0)
            record = dataclasses.replace(records[0], strategy=config.strategy,
                                         mode=config.mode, stop_reason="")
            stop = StopRule.of(config, fork.store, fork.store.examples("pool"))
            record.stop_reason = stop(record)
            fork.store.save_round(record)
    partial.rename(run_dir)


def fork_seed_calls(base_dir: Path, run_dir: Path, config: RunConfig) -> None:
    """Start the whole-pool run of `config` in `run_dir` with the teacher replies of
    the seed round in `base_dir` in its cache: it annotates every pool question, the
    seed round's among them, with the same requests, which are paid once per seed.
    Made aside and renamed into place, like `fork_seed_round`."""
    partial = run_dir.with_name(run_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with RunDir.open(base_dir) as base, RunDir.create(partial, config) as fork:
        fork.store.copy_seed_round(base.store.path, calls_only=True)
    partial.rename(run_dir)


def make_run(grid_run: GridRun, run_dir: Path, seed_round: Path | None) -> float:
    """One run of the grid (in a worker process): forked from its seed round when it
    is new and has one, then made or resumed by the loop. Returns the seconds taken."""
    started = time.perf_counter()
    if seed_round is not None and not run_dir.exists():
        fork = fork_seed_calls if grid_run.kind == "whole-pool" else fork_seed_round
        fork(seed_round, run_dir, grid_run.config)
    run(grid_run.config, run_dir)
    return time.perf_counter() - started


def _start_worker(threads: int) -> None:
    """A worker leaves Ctrl-C to the main process, which stops it, and ends with the
    main process however that ends (killed too: on Linux the kernel sends it SIGTERM),
    so no orphan goes on writing a run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    torch.set_num_threads(threads)


def cores() -> int:
    return len(os.sched_getaffinity(0))


def default_jobs() -> int:
    """Runs at a time: one per core on a CPU machine (tiny students run faster as one
    thread each, side by side, than as one two-thread process), one on a GPU."""
    return 1 if torch.cuda.is_available() else cores()


def run_grid(runs: list[GridRun], out: Path, jobs: int = 1,
             on_run: Callable[[GridRun, float, bool], None] = lambda *a: None) -> None:
    """Make (or resume, or reuse) every run of the grid under out/runs. A finished run
    is reused only if its config is the grid's; else it goes on as `elad run` would
    (grown on the CONTINUABLE keys, refused on any other).

    Runs go to `jobs` worker processes (each with cores // jobs torch threads) in the
    grid's order; a grid run starts once its seed round is done. `on_run(run, seconds,
    reused)` is called in this process as each one is done. out/timings.json keeps the
    seconds each run took (summed over resumes) and, per invocation that made runs, its
    wall time up to its last finished run. An error or an interrupt stops the workers;
    every run is resumable, so running the grid again goes on from there."""
    timings_path = out / "timings.json"
    timings = read_timings(out)
    invocation = {"wall_s": 0.0, "runs_made": 0}
    started = time.perf_counter()
    seed_rounds = {r.config.seed: r.name for r in runs if r.kind == "seed-round"}
    waiting, running, done = list(runs), {}, set()
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(tqdm(total=len(runs), desc="bench", unit="run",
                                            file=sys.stderr, disable=not bars_shown()))
        pool = None  # started when a run needs making: reusing a finished grid is quick
        while waiting or running:
            for grid_run in list(waiting):
                shares = grid_run.kind == "whole-pool" or (
                    grid_run.kind == "grid" and not ranks_seed_round(grid_run.config))
                base = seed_rounds.get(grid_run.config.seed) if shares else None
                run_dir = out / RUNS / grid_run.name
                if base is not None and base not in done:
                    continue
                if finished(run_dir) and not differences(stored_config(run_dir),
                                                         grid_run.config):
                    waiting.remove(grid_run)
                    done.add(grid_run.name)
                    progress.update()
                    on_run(grid_run, 0.0, True)
                elif len(running) < jobs:
                    if pool is None:  # on exit (an error, an interrupt) it is terminated
                        pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(
                            jobs, _start_worker, (max(1, cores() // jobs),)))
                    waiting.remove(grid_run)
                    running[grid_run.name] = (grid_run, pool.apply_async(
                        make_run, (grid_run, run_dir, base and out / RUNS / base)))
            for name, (grid_run, result) in list(running.items()):
                if not result.ready():
                    continue
                seconds = result.get()  # a worker's error is raised here
                del running[name]
                done.add(name)
                timings["runs"][name] = timings["runs"].get(name, 0.0) + seconds
                if not invocation["runs_made"]:
                    timings["invocations"].append(invocation)
                invocation["runs_made"] += 1
                invocation["wall_s"] = time.perf_counter() - started
                timings_path.write_text(json.dumps(timings, indent=1, sort_keys=True))
                progress.update()
                on_run(grid_run, seconds, False)
            progress.set_postfix_str(", ".join(running))
            if running:
                time.sleep(0.2)


@dataclass(frozen=True)
class BenchOptions:
    """What `elad bench` compares and how: the regimes, the grid's strategies, modes,
    seeds and (strategy-mode) configurations as named on the command line (None: the
    default), whether to add the whole-pool reference, runs at a time (None:
    `default_jobs`), the command line recorded in bench.json, and the config keys the
    user named there (a regime's override may not contradict them: regimes.py)."""

    strategies: list[str] | None = None
    modes: list[str] | None = None
    seeds: list[str] | None = None
    configurations: list[str] | None = None
    whole_pool: bool = False
    jobs: int | None = None
    command: str = ""
    regimes: list[str] | None = None
    given: frozenset[str] = frozenset()


def bench(config: RunConfig, out: Path, options: BenchOptions = BenchOptions(),
          on_line: Callable[[str], None] = lambda line: None) -> dict:
    """Per regime, its grid in out/<regime> (`bench_grid`), then out/bench.json and
    out/index.html over the regimes; returns that summary. Every regime's config is
    checked before any run is made."""
    names = regime_names(options.regimes, config)
    config = bench_sized(config, options.given)
    configs = {name: regime_config(config, name, options.given, strict=len(names) > 1)
               for name in names}
    pairs, seeds = checked_grid(options.strategies, options.modes, options.seeds,
                            options.configurations)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    jobs = options.jobs or default_jobs()
    regimes = []
    with hold(out):  # one `elad bench` per grid; each worker locks its own run directory
        grids = {name: grid(regime, pairs, seeds, whole_pool=options.whole_pool)
                 for name, regime in configs.items()}
        for name, runs in grids.items():
            check_settings_kept(runs, out / name)
        for name, regime in configs.items():
            on_line(f"regime {name}: {(said := description(name, regime))}")
            summary = bench_grid(regime, grids[name], out / name, jobs, options.command,
                                 on_line)
            regimes.append({"name": name, "description": said,
                            "overrides": REGIMES[name].overrides, "directory": name,
                            "bench": summary})
    info = {"command": options.command, "machine": regimes[0]["bench"]["machine"],
            "wall_s": sum(r["bench"]["wall_s"] for r in regimes),
            "invocations": max(r["bench"]["invocations"] for r in regimes),
            "this_invocation_s": time.perf_counter() - started,
            "runs_wall_s": sum(r["bench"]["runs_wall_s"] for r in regimes)}
    return write_regimes_summary(out, regimes, info)


def bench_grid(config: RunConfig, runs: list[GridRun], out: Path, jobs: int,
               command: str = "", on_line: Callable[[str], None] = lambda line: None) -> dict:
    """Make the `runs` of one regime's grid (of `config`) in out/runs, reusing finished
    ones, write each run's report.html, then out/bench.json, the plots and
    out/index.html; returns the summary."""
    (out / RUNS).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    names = {r.name for r in runs}
    early: list[Path] = []  # reports written before their baseline run had finished

    def done(grid_run: GridRun, seconds: float, reused: bool) -> None:
        run_dir = out / RUNS / grid_run.name
        if not reused or not (run_dir / "report.html").exists():
            # asked before the report is written: the baseline may finish in between
            baseline = baseline_name(grid_run.config.seed)
            if baseline in names and not finished(out / RUNS / baseline):
                early.append(run_dir)
            write_run_report(run_dir, baseline_dir=grid_baseline(run_dir))
        m = run_metrics(run_dir, grid_run.kind, config)
        on_line(f"{out.name + '/' + grid_run.name:<33} "
                f"{'reused' if reused else f'{seconds:5.0f}s':>6}  "
                f"rounds {len(m.costs)}  cost ${m.cost_usd:.4f}  "
                f"accuracy {m.final_accuracy:.3f}  {m.stop_reason}")

    run_grid(runs, out, jobs, done)
    for run_dir in early:
        write_run_report(run_dir, baseline_dir=grid_baseline(run_dir))  # its whole curve
    timings = read_timings(out)
    info = {"command": command,
            "machine": f"{machine()}; {jobs} runs at a time, "
                       f"{max(1, cores() // jobs)} torch threads each",
            "wall_s": sum(i["wall_s"] for i in timings["invocations"]),
            "invocations": len(timings["invocations"]),
            "this_invocation_s": time.perf_counter() - started,
            "runs_wall_s": sum(timings["runs"].get(r.name, 0.0) for r in runs),
            "grid": {"strategies": sorted({r.config.strategy for r in runs
                                            if r.kind == "grid"}),
                     "modes": sorted({r.config.mode for r in runs if r.kind == "grid"}),
                     "seeds": sorted({r.config.seed for r in runs})},
            "config": config.to_dict()}
    metrics = [run_metrics(out / RUNS / r.name, r.kind, config) for r in runs
               if r.kind != "seed-round"]
    return write_summary(out, metrics, info, BASELINE)


def read_timings(out: Path) -> dict:
    """out/timings.json: seconds per run, and the wall time of each invocation that
    made runs (so a grid resumed over several invocations still has its total)."""
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {"runs": {},
                                                                 "invocations": []}


def machine() -> str:
    """The CPU, the cores this process may use, and the torch and Python versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {cores()} cores, torch {torch.__version__}, "
            f"Python {platform.python_version()}")
