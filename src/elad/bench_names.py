"""How `elad bench` lays out its grid: the names of its runs under DIR/runs and which
configuration is the baseline. The bench owns this; the report and the bench summary are
handed the baseline instead of knowing the names. Torch-free, so that `elad report` can
find a grid run's baseline."""

from __future__ import annotations

from pathlib import Path

from elad.rundir import STORE, stored_config

RUNS = "runs"  # DIR/runs/NAME: one run directory per run of the grid
BASELINE = ("random", "annotate")  # what a user would do without elad: the obvious way


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
