"""A run directory, owned here: its store (`run.sqlite`), the config it was made with,
and its student checkpoints.

    with RunDir.open(path) as run: ...            # a run that must exist (reading it)
    with RunDir.create(path, config) as run: ...  # made, or reopened with the same config

The stored config is always read back as a `RunConfig`. A checkpoint is written to
`round-N.partial` and renamed into place, so `round-N` exists only once complete. Never
imports torch (reports read run directories too).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elad.config import ConfigError, RunConfig, config_from_json
from elad.store import RunStore

STORE = "run.sqlite"


WHERE_IT_RUNS = ("scale",)  # sections that change where the work runs, not its results


def differences(old: RunConfig, new: RunConfig) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every setting that differs, sorted; the
    WHERE_IT_RUNS sections are left out (a run may go on elsewhere)."""
    found = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        for field in dataclasses.fields(a):
            if not prefix and field.name in WHERE_IT_RUNS:
                continue
            x, y = getattr(a, field.name), getattr(b, field.name)
            if dataclasses.is_dataclass(x):
                walk(x, y, f"{prefix}{field.name}.")
            elif x != y:
                found.append((f"{prefix}{field.name}", x, y))

    walk(old, new, "")
    return sorted(found)


class RunDir:
    def __init__(self, path: Path, store: RunStore, config: RunConfig):
        self.path = path
        self.store = store
        self.config = config

    @classmethod
    def create(cls, path: Path, config: RunConfig) -> RunDir:
        """The run of `config` in `path`: a new one, or the one already there if it was
        made with the same config (else ConfigError naming the first difference)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        store = RunStore(path / STORE)
        stored = store.get_meta("config")
        if stored is None:
            store.set_meta("config", config.to_json())
        elif changed := differences(config_from_json(stored), config):
            store.close()
            key, old, new = changed[0]
            raise ConfigError(f"{path} holds a run with {key}={old!r}, not {new!r}; use "
                              "another --run-dir to change the config")
        return cls(path, store, config)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """The run already in `path` (FileNotFoundError if there is none)."""
        path = Path(path)
        if not (path / STORE).exists():
            raise FileNotFoundError(f"{path} holds no run (no {STORE})")
        store = RunStore(path / STORE)
        return cls(path, store, config_from_json(store.get_meta("config")))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- checkpoints --------------------------------------------------------------------

    def checkpoint(self, round: int) -> Path:
        return self.path / "checkpoints" / f"round-{round}"

    def save_checkpoint(self, round: int, save: Callable[[Path], None]) -> Path:
        """Write round `round`'s checkpoint with `save(directory)`, complete or not at all."""
        path = self.checkpoint(round)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        save(partial)
        partial.rename(path)
        return path

    def copy_checkpoint(self, source: RunDir, round: int) -> None:
        self.save_checkpoint(round, lambda partial: shutil.copytree(
            source.checkpoint(round), partial))

    # --- where the run stands -----------------------------------------------------------

    def finished(self) -> bool:
        """Whether the run has stopped (a rerun would only reread it)."""
        records = self.store.rounds()
        return bool(records and records[-1].stop_reason)

    def trained_round(self, round: int | None = None) -> int:
        """`round` if its student was trained (default: the last one), else ConfigError."""
        trained = [r.round for r in self.store.rounds()]
        if not trained:
            raise ConfigError(f"{self.path} has no trained student yet")
        round = trained[-1] if round is None else round
        if round not in trained:
            raise ConfigError(f"{self.path} has no student for round {round} "
                              f"(has {trained})")
        return round


def finished(path: Path) -> bool:
    """Whether `path` holds a run that has stopped."""
    if not (Path(path) / STORE).exists():
        return False
    with RunDir.open(path) as run:
        return run.finished()
