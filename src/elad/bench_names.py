"""How `elad bench` lays out its grid: what it compares by default, the names of its runs
under DIR/<regime>/runs and which configuration is the baseline. The bench owns this; the
report and the bench summary are handed the baseline instead of knowing the names.
Torch-free, so that `elad report` can find a grid run's baseline and `elad bench --help`
can say the defaults."""

from __future__ import annotations

from pathlib import Path

from elad.config import ConfigError, RunConfig, choices
from elad.rundir import CONTINUABLE, STORE, differences, refusal, stored_config

RUNS = "runs"  # DIR/runs/NAME: one run directory per run of the grid
BASELINE = ("random", "annotate")  # what a user would do without elad: the obvious way

# The default grid: the baseline (random questions annotated) and the default run's
# strategy and mode (RunConfig's: change the default, the bench follows). Revision's
# worth is priced exactly, on the same questions, by benchmarks/revision_savings.py.
# --configs, --strategies and --modes compare more.
CONFIGURATIONS = tuple(dict.fromkeys((BASELINE, (RunConfig().strategy, RunConfig().mode))))
# The sizes every grid run takes unless the config says otherwise (regimes.bench_sized):
# on the synthetic task, 200 test questions where the default run has 300, so that the
# default grid of both regimes and 8 seeds fits in about an hour on 2 cores. Candidates
# are the default run's 400: the bench measures the selection a user gets (random
# explains only what it may pick: loop.explained_count).
SIZES = {"task.test_size": 200}
GRID_STRATEGIES = ("random", "entropy", "least-confidence", "elad")
MODES = ("annotate", "revise", "auto")
SEEDS = tuple(range(8))
# What a grid made before may change: a run's CONTINUABLE settings less those that change
# what its student writes, which a finished run's figures would not show
GRID_CONTINUABLE = tuple(key for key in CONTINUABLE
                         if key not in ("student.dtype", "student.max_new_tokens"))


def grid_run_name(strategy: str, mode: str, seed: int) -> str:
    return f"{strategy}-{mode}-s{seed}"


def seed_round_name(seed: int) -> str:
    return f"seed-round-s{seed}"


def whole_pool_name(seed: int) -> str:
    return f"whole-pool-s{seed}"


def baseline_name(seed: int) -> str:
    return grid_run_name(*BASELINE, seed)


def grid_baseline(run_dir: Path) -> Path | None:
    """For a run of an `elad bench` grid (DIR/runs/NAME), the baseline run of the same
    seed (random questions annotated: the classic active-learning baseline), if it is
    stored there and is not the run itself."""
    run_dir = Path(run_dir)
    config = stored_config(run_dir)
    if config is None or run_dir.parent.name != RUNS:
        return None
    sibling = run_dir.parent / baseline_name(config.seed)
    if sibling.resolve() == run_dir.resolve() or not (sibling / STORE).exists():
        return None
    return sibling


def checked_grid(strategies, modes, seeds, configurations=None) -> tuple[tuple, tuple]:
    """The grid's (strategy, mode) pairs and seeds, defaults filled in: the pairs given
    as "strategy/mode", else every strategy with every mode when either is given, else
    CONFIGURATIONS. A bad name is a ConfigError."""
    if configurations:
        pairs = tuple(tuple(c.split("/", 1)) if "/" in c else (c, "") for c in configurations)
    elif strategies or modes:
        pairs = tuple((s, m) for s in strategies or GRID_STRATEGIES for m in modes or MODES)
    else:
        pairs = CONFIGURATIONS
    for strategy, mode in pairs:
        for key, value in (("strategy", strategy), ("mode", mode)):
            if value not in choices(key):
                raise ConfigError(f"{key} {value!r} is not one of {', '.join(choices(key))} "
                                  "(a configuration is strategy/mode)")
    try:
        seeds = tuple(int(s) for s in seeds) if seeds else SEEDS
    except ValueError:
        raise ConfigError(f"--seeds {','.join(seeds)}: not whole numbers") from None
    return pairs, seeds


def check_settings_kept(runs: list, out: Path) -> None:
    """A grid made before in `out` goes on only with settings each of its runs may
    change (ConfigError otherwise), checked before any run is made, in the bench's
    words: another --out, not one of the grid's own run directories."""
    for grid_run in runs:
        stored = stored_config(out / RUNS / grid_run.name)
        if stored and (reason := refusal(out, differences(stored, grid_run.config),
                                         holds="grid", option="--out",
                                         may_change=GRID_CONTINUABLE)):
            raise ConfigError(reason)
