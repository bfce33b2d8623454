"""elad: explanation-guided active distillation. Teach a small student to reason like a
teacher LLM while paying the teacher as little as possible (ELAD, Zhang et al. 2024).

    import elad

    records = elad.run({"budget_usd": 0.1, "max_rounds": 2}, "runs/api")
    print(records[-1].test_accuracy, records[-1].cost_usd, records[-1].stop_reason)
    elad.report("runs/api")  # runs/api/report.html

`elad.run` takes a `RunConfig`, a dict shaped like a config file (sections as nested
dicts) or the path of a TOML config file; it runs, resumes or rereads the run in
`run_dir`, exactly as `elad run --run-dir RUN_DIR` does. Importing elad loads no torch:
the heavy modules are imported by the call that needs them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elad.config import RunConfig
    from elad.types import RoundRecord

try:
    __version__ = version("elad")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "run", "report"]


def run(config: RunConfig | dict | str | Path, run_dir: str | Path = "elad-run"
        ) -> list[RoundRecord]:
    """Run (or resume, or reread) the experiment of `config` in `run_dir`; returns its
    round records. A bad config raises `elad.config.ConfigError` naming the key."""
    from elad.config import RunConfig, config_from_dict, load_config, validate
    from elad.loop import run as run_loop  # torch, from here on

    if isinstance(config, RunConfig):
        config = validate(config)
    elif isinstance(config, dict):
        config = config_from_dict(config)
    else:
        config = load_config(Path(config))
    records, _ = run_loop(config, Path(run_dir))
    return records


def report(run_dir: str | Path, baseline: str | Path | None = None) -> Path:
    """Write `run_dir`/report.html (with `baseline`'s curve beside the run's, if
    given) and return its path."""
    from elad.reading.report import write_run_report

    return write_run_report(Path(run_dir), baseline_dir=Path(baseline) if baseline else None)
