"""elad: explanation-guided active distillation. Teach a small student to reason like a
teacher LLM while paying the teacher as little as possible (ELAD, Zhang et al. 2024).

    import elad

    records = elad.run({"budget_usd": 0.1, "max_rounds": 2}, "runs/api")
    print(records[-1].test_accuracy, records[-1].cost_usd, records[-1].stop_reason)
    elad.report("runs/api")  # runs/api/report.html
    elad.export_data("runs/api", "runs/api-data")  # TRL datasets of its targets
    elad.export("runs/api", "runs/api-model")  # its student, a Hugging Face folder

`elad.run` takes a `RunConfig`, a dict shaped like a config file (sections as nested
dicts), the path of a TOML config file, or nothing; it runs, resumes or rereads the run
in `run_dir`, exactly as `elad run --run-dir RUN_DIR` does (a run directory's own
config is the base that a dict or a file changes); `elad.report`, `elad.export` and `elad.export_data`
are `elad report`, `elad export` and `elad export-data`. Importing elad loads no torch:
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

__all__ = ["__version__", "export", "export_data", "report", "run"]


def __dir__() -> list[str]:
    """The API alone (tab completion, `dir(elad)`), not this module's own imports."""
    return list(__all__)


def run(config: RunConfig | dict | str | Path | None = None,
        run_dir: str | Path = "elad-run") -> list[RoundRecord]:
    """Run (or resume, or reread) the experiment of `config` in `run_dir`; returns its
    round records. As with `elad run`, a dict or a file applies on top of the config
    the run directory already holds (before: on the defaults, so a grown run silently
    took the default budget), and None resumes it as it is. A bad config raises
    `elad.config.ConfigError` naming the key; a run directory another process is running
    in, `elad.lock.DirectoryInUse` (a ConfigError too) naming it."""
    from elad.config import RunConfig, config_from_dict, load_config, validate
    from elad.loop import run as run_loop  # torch, from here on
    from elad.rundir import stored_config

    stored = stored_config(Path(run_dir))
    if isinstance(config, RunConfig):
        config = validate(config, stored)
    elif isinstance(config, dict):
        config = config_from_dict(config, stored)
    else:
        config = load_config(None if config is None else Path(config), base=stored)
    records, _ = run_loop(config, Path(run_dir))
    return records


def report(run_dir: str | Path, baseline: str | Path | None = None) -> Path:
    """Write `run_dir`/report.html (with `baseline`'s curve beside the run's, if
    given) and return its path."""
    from elad.reading.report import write_run_report

    return write_run_report(Path(run_dir), baseline_dir=Path(baseline) if baseline else None)


def export(run_dir: str | Path, out: str | Path, round: int | None = None,
           adapter_only: bool = False) -> int:
    """Write the student of `round` (default: the last trained) to the folder `out` as a
    Hugging Face model with its model card (README.md), LoRA merged in, or with
    `adapter_only` a LoRA student's adapter alone; returns the round written. A bad
    folder or option raises `elad.config.ConfigError` or `ExportError`."""
    from elad.config import ConfigError
    from elad.reading.export_data import out_folder, written_whole
    from elad.reading.model_card import model_card
    from elad.rundir import RunDir

    out = out_folder(out, "model")
    with RunDir.open(Path(run_dir)) as run:
        config, round = run.config, run.trained_round(round)
        if adapter_only and not (config.student.kind == "hf"
                                 and config.student.finetune == "lora"):
            raise ConfigError("--adapter-only needs a LoRA student (student.kind=hf, "
                              "student.finetune=lora)")
        from elad.student import export_student  # torch, from here on

        with written_whole(out, "model") as folder:
            bos = export_student(config.student, run.checkpoint(round), folder,
                                 merged=not adapter_only)
            card = model_card(run, round, bos, adapter_only=adapter_only)
            (folder / "README.md").write_text(card, encoding="utf-8")
    return round


def export_data(run_dir: str | Path, out: str | Path, teacher_replies: bool = False,
                push_to_hub: str | None = None) -> dict[str, int]:
    """Write the run's training targets (and, with `teacher_replies`, every teacher
    call) into the folder `out` as TRL datasets: prompt-completion and messages JSON
    lines, and datasets folders where the datasets package is installed; push them to
    the hub dataset `push_to_hub` if given. Returns the rows written per dataset."""
    from elad.reading.export_data import export_data as write_data
    from elad.reading.export_data import out_folder

    return write_data(Path(run_dir), out_folder(out, "data"), teacher_replies,
                      push_to_hub)
