"""Per-round metrics to experiment trackers, through each library's own API.

`report_to` names any of trackio, tensorboard, wandb, mlflow (none by default); each gets,
as each round finishes, the round's test accuracy, the cumulative teacher cost, calls and
tokens, the labeled questions, the confirmed fraction and the training loss, with the
round as the step. A tracker starts with the first round this process finishes, so
rereading a finished run logs nothing; a resumed run goes on in the same tracker run. A
tracker that fails is left out with a warning: it never stops a run.

Where each writes:
- tensorboard: event files in RUN_DIR/tensorboard (`tensorboard --logdir RUN_DIR`);
- mlflow: its tracking URI (MLFLOW_TRACKING_URI, else mlflow's default), one mlflow run
  per elad run with the config as its parameters;
- wandb: project "elad", files under RUN_DIR/wandb (WANDB_MODE=offline: no account);
- trackio: project "elad" in its local store (TRACKIO_DIR).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from elad.config import RunConfig
from elad.rundir import RunDir
from elad.types import RoundRecord

log = logging.getLogger("elad")

PROJECT = "elad"


def metrics(record: RoundRecord) -> dict[str, float]:
    """What is logged for a round (left out: what the round does not have)."""
    values = {"test_accuracy": record.test_accuracy, "cost_usd": record.cost_usd,
              "teacher_calls": record.teacher_calls,
              "teacher_input_tokens": record.teacher_input_tokens,
              "teacher_output_tokens": record.teacher_output_tokens,
              "n_labeled": record.n_labeled,
              "confirmed_fraction": record.confirmed_fraction,
              "train_loss": record.train_loss}
    return {name: float(value) for name, value in values.items() if value is not None}


class Tracker(Protocol):
    def log(self, values: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class TensorBoard:
    def __init__(self, config: RunConfig, run: RunDir):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run.path / "tensorboard"))

    def log(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflow:
    def __init__(self, config: RunConfig, run: RunDir):
        import mlflow

        self.mlflow = mlflow
        run_id = run.store.get_meta("mlflow_run_id")
        if run_id is None:
            mlflow.set_experiment(PROJECT)
        started = mlflow.start_run(run_id=run_id, run_name=run.path.name)
        if run_id is None:
            run.store.set_meta("mlflow_run_id", started.info.run_id)
            mlflow.log_params(flat(config.to_dict()))

    def log(self, values: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(values, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class WandB:
    def __init__(self, config: RunConfig, run: RunDir):
        import wandb

        self.run = wandb.init(project=PROJECT, name=run.path.name,
                              id=run.store.get_meta("wandb_run_id"), resume="allow",
                              dir=str(run.path), config=config.to_dict())
        run.store.set_meta("wandb_run_id", self.run.id)

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


class Trackio:
    def __init__(self, config: RunConfig, run: RunDir):
        import trackio

        self.trackio = trackio
        trackio.init(project=PROJECT, name=run.path.name, config=config.to_dict(),
                     resume="allow")

    def log(self, values: dict[str, float], step: int) -> None:
        self.trackio.log(values, step=step)

    def close(self) -> None:
        self.trackio.finish()


OPEN: dict[str, Callable[[RunConfig, RunDir], Tracker]] = {
    "tensorboard": TensorBoard, "mlflow": MLflow, "wandb": WandB, "trackio": Trackio}


def flat(values: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as dotted keys ("student.samples") with text values."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


@contextmanager
def trackers(config: RunConfig, run: RunDir) -> Iterator[Callable[[RoundRecord], None]]:
    """A function that logs a finished round to every tracker of `config.report_to`;
    the trackers are started at the first round and closed on leaving."""
    started: dict[str, Tracker] = {}
    failed: set[str] = set()

    def track(record: RoundRecord) -> None:
        for name in [n for n in config.report_to if n not in failed]:
            try:
                if name not in started:
                    started[name] = OPEN[name](config, run)
                started[name].log(metrics(record), record.round)
            except Exception as error:  # a tracker's trouble never stops a paid run
                log.warning("report_to %s failed, the run goes on without it: %s", name,
                            error)
                failed.add(name)

    try:
        yield track
    finally:
        for tracker in started.values():
            tracker.close()
