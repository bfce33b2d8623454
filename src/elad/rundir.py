"""A run directory, owned here: its store (`run.sqlite`), the config it was made with,
its student checkpoints, and the lock that lets one process at a time write it.

    with RunDir.open(path) as run: ...            # a run that must exist (reading it)
    with RunDir.create(path, config) as run: ...  # made, resumed or grown (locked)

The stored config is always read back as a `RunConfig`. Reopened with another config,
a run goes on only if the differences leave its stored work consistent (`CONTINUABLE`),
or if nothing was sent to the teacher yet (a start that failed early is started over;
one that sent requests, answered, in flight or batched, never is). A checkpoint
is written to `round-N.partial` and renamed into place, so `round-N` exists only once
complete, with the id of the store it was made with: a checkpoint of another store (one
emptied or deleted since) is never loaded. Never imports torch (reports read run
directories too).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elad.config import ConfigError, RunConfig, absolute_paths, config_from_json
from elad.config_checks import is_local
from elad.lock import Lock, hold
from elad.store import RunStore
from elad.types import RoundRecord, StopReason

log = logging.getLogger("elad")
STORE = "run.sqlite"
METRICS = "train_metrics.json"  # in a checkpoint: how its training went
STORE_ID = "store_id"  # in a checkpoint, and in the store's meta: whose checkpoint it is

# What may change in a run that has stored teacher work: how far it goes and how its
# requests are sent, never what was selected, asked or trained (the strategy, the mode,
# the seed, the task, the student, the teacher's model, prompts, prices and limits).
# The last round's stop reason is decided again under new STOP_KEYS values (raise the
# budget of a finished run and it goes on; lower max_rounds and it stops).
# Also where and how the student runs (a smaller generation batch after running out of
# GPU memory); its requests already selected are asked as stored (asking.stored_requests).
# And where its data files and its pretrained student's folder are (a project moved
# elsewhere): the run goes on if they hold the same questions and answers
# (context.check_same_questions), the same model files (model_folder.check_same_model).
# And how long the student's explanations may be: a limit found too short after paying
# for round 0 (lengths.said_if_cut) is raised without paying again; the rounds so far
# keep theirs.
MOVABLE = ("task.path", "task.test_path", "student.model")
STOP_KEYS = ("budget_usd", "max_rounds", "saturation", "saturation_window",
             "stop_gain_per_usd")  # what a run's stop reason is decided again under
CONTINUABLE = (*STOP_KEYS, "report_to", "teacher.concurrency", "teacher.timeout_s",
               "teacher.max_retries", "teacher.max_invalid", "teacher.api_key_env",
               "teacher.batch", "teacher.batch_wait", "teacher.batch_poll_s",
               *MOVABLE, "student.batch_size", "student.device", "student.backend",
               "student.dtype", "student.max_new_tokens")


class CheckpointError(Exception):
    """A round's saved student is missing or cannot be read (student.load_student): the
    run cannot go on from it; the replies paid for are in the store, untouched."""


def unreadable(directory: Path, what: str) -> str:
    """A CheckpointError's words."""
    return (f"the saved student {directory} {what}, and the run cannot go on without it; "
            "the teacher's replies are kept in the run's store: `elad export-data` "
            "writes every target paid for, to train a student on elsewhere")


WHERE_IT_RUNS = ("scale",)  # sections that change where the work runs, not its results


def differences(old: RunConfig, new: RunConfig) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every setting that differs, sorted; the
    WHERE_IT_RUNS sections are left out (a run may go on elsewhere). Relative file paths
    are compared as the working directory reads them (a run stored before its paths
    were stored absolute names them relative)."""
    old, new, found = absolute_paths(old), absolute_paths(new), []

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


def refusal(path: Path, changed: list[tuple[str, Any, Any]], holds: str = "run",
            option: str = "--run-dir",
            may_change: tuple[str, ...] = CONTINUABLE) -> str | None:
    """Why `path`'s run (or a bench's grid) cannot go on with these differences (None
    if it can, every key being in `may_change`); `option` is where another folder is
    given."""
    fixed = [f"{key}={old!r} (not {new!r})" for key, old, new in changed
             if key not in may_change  # a hub name or a preset: another model, not place
             or key == "student.model" and not (is_local(old) and is_local(new))]
    if not fixed:
        return None
    keys = ", ".join(f"{key} (a folder's path)" if key == "student.model" else key
                     for key in may_change)
    return (f"{path} holds a {holds} made with {', '.join(fixed)}: changing "
            f"{'this' if len(fixed) == 1 else 'these'} would make its stored work "
            f"inconsistent; use another {option} (a {holds} may change only {keys}, and "
            f"every {'.*, '.join(WHERE_IT_RUNS)}.* setting)")


def not_started_over(reason: str, store: RunStore) -> str:
    """A refusal's words for a run that has sent the teacher requests."""
    return (f"{reason}; it is not started over, as it sent the teacher requests "
            f"({store.sent()}), paid or maybe paid")


def refused_change(path: Path, config: RunConfig) -> str | None:
    """Why the run in `path` would refuse to go on with `config` (RunDir.create's
    words; None if it would not, or there is none), read without taking it: said before
    anything else, torch included, is loaded."""
    try:
        with RunDir.open(path) as run:
            if run.store.paid_nothing():
                return None
            reason = refusal(path, differences(run.config, config))
            return not_started_over(reason, run.store) if reason else None
    except FileNotFoundError:
        return None


def say_changes(path: Path, changed: list[tuple[str, Any, Any]]) -> None:
    """Log what a grown run goes on with; a warning when a budget, a round limit or the
    explanations' length goes down (rerunning a run's first command after growing it on
    the command line puts its file's values back)."""
    lowered = [key for key, old, new in changed if new < old
               and key in ("budget_usd", "max_rounds", "student.max_new_tokens")]
    said = ", ".join(f"{key}={new!r} ({'lowered from' if key in lowered else 'was'} "
                     f"{old!r})" for key, old, new in changed)
    if lowered:
        log.warning("%s: going on with %s (the config given replaces the run's: give the "
                    "higher value again to keep it)", path, said)
    elif changed:
        log.info("%s: going on with %s", path, said)


class RunDir:
    def __init__(self, path: Path, store: RunStore, config: RunConfig,
                 lock: Lock | None = None, changed: list[tuple[str, Any, Any]] = ()):
        self.path = path
        self.store = store
        self.config = config
        self.lock = lock
        self.changed = list(changed)  # (key, stored, new): a grown run, not yet saved

    @classmethod
    def create(cls, path: Path, config: RunConfig) -> RunDir:
        """The run of `config` in `path`, locked for this process (DirectoryInUse if
        another holds it): a new run; the one already there; or that one grown, if
        every difference is CONTINUABLE (else ConfigError naming each other one). A run
        that has paid for nothing yet is started over with `config`. A grown config is
        kept by `save_config`, once the caller can decide its stop reason."""
        path, config = Path(path), absolute_paths(config)
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock = hold(path)
        except (FileExistsError, NotADirectoryError, PermissionError) as error:
            raise ConfigError(f"{path} cannot be a run directory ({error.strerror})") \
                from None
        store = None
        try:
            store = RunStore(path / STORE)
            stored, changed = store.get_meta("config"), []
            if stored is None or (stored != config.to_json() and store.paid_nothing()):
                store.start_over(config.to_json())
                set_aside_checkpoints(path, "its store is new")
            else:
                changed = differences(config_from_json(stored), config)
                if reason := refusal(path, changed):
                    raise ConfigError(not_started_over(reason, store))
            run = cls(path, store, config, lock, changed)
            run.check_checkpoints()
        except BaseException:
            if store is not None:
                store.close()
            lock.release()
            raise
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """The run already in `path`, to read (FileNotFoundError if there is none)."""
        path = Path(path)
        if not (path / STORE).exists():
            runs = "runs/NAME" if (path / "runs").is_dir() else "REGIME/runs/NAME"
            bench = (f" (it holds a bench: its runs are {runs} in it, and its index.html "
                     "sums them up)") if (path / "bench.json").is_file() else ""
            raise FileNotFoundError(f"{path} holds no run (no {STORE}){bench}")
        store = RunStore(path / STORE)
        stored = store.get_meta("config")
        if stored is None:
            store.close()
            raise FileNotFoundError(f"{path} holds no run (no config in its {STORE})")
        return cls(path, store, config_from_json(stored))

    def save_config(self, decide: Callable[[RoundRecord], StopReason]) -> None:
        """Keep a grown run's config. If the run had stopped, or has now reached
        max_rounds, its last round's stop reason is decided again with `decide(record)`
        (the run's stop rule under the new config, stopping.StopRule) in the same
        transaction, so the run goes on from there or stays stopped, never half of both;
        nothing is kept (CheckpointError) when it would go on without its last student.
        Only a change of STOP_KEYS decides it again (the rule has no forecast here, so a
        low-gain stop would not stand); any other change, where it runs (`scale.*`)
        alone too, is kept as it is: a later resume with `--run-dir` runs as this did.
        What it goes on with is said here, once the run's data and model are checked:
        not before a refusal of a data file (it read as if the change was taken)."""
        if not self.changed and self.store.get_meta("config") == self.config.to_json():
            return
        records = self.store.rounds()
        last, decided = records[-1] if records else None, None
        stops = any(key in STOP_KEYS for key, _, _ in self.changed)
        if last is not None and stops and (last.stop_reason
                                           or last.round >= self.config.max_rounds):
            decided = dataclasses.replace(last, stop_reason=decide(last))
        goes_on = last is not None and not (decided or last).stop_reason
        if goes_on and not self.checkpoint(last.round).is_dir():  # before it is kept
            raise CheckpointError(unreadable(self.checkpoint(last.round), "is missing"))
        say_changes(self.path, self.changed)
        self.store.save_config(self.config.to_json(), decided)
        self.changed = []

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- checkpoints --------------------------------------------------------------------

    def checkpoint(self, round: int) -> Path:
        return self.path / "checkpoints" / f"round-{round}"

    def store_id(self) -> str:
        """The id of this run's store, made once (a store made before ids has one from
        its first open here); each checkpoint is written with it."""
        made = self.store.get_meta(STORE_ID)
        if made is None:
            made = uuid.uuid4().hex
            self.store.set_meta(STORE_ID, made)
        return made

    def check_checkpoints(self) -> None:
        """Checkpoints are trusted only if made with this store: those of another (a run
        whose store was emptied or deleted) are set aside if this store has no round
        yet, else ConfigError. A checkpoint without an id (made before ids) is this
        store's if the store had no id either."""
        had_id = self.store.get_meta(STORE_ID) is not None
        mine = self.store_id()
        foreign = []
        for checkpoint in sorted((self.path / "checkpoints").glob("round-*")):
            if checkpoint.suffix == ".partial" or not checkpoint.is_dir():
                continue
            tag = checkpoint / STORE_ID
            made_by = tag.read_text().strip() if tag.exists() else None
            if made_by is None and not had_id:
                tag.write_text(mine)  # an older run's own checkpoint
            elif made_by != mine:
                foreign.append(checkpoint.name)
        if foreign and self.store.rounds():
            raise ConfigError(f"{self.path}: checkpoints {', '.join(foreign)} were made "
                              f"with another run store than its {STORE}; move them away "
                              "(or use another --run-dir)")
        if foreign:
            set_aside_checkpoints(self.path, f"made with another {STORE}", foreign)

    def save_checkpoint(self, round: int, save: Callable[[Path], None],
                        metrics: dict | None = None) -> Path:
        """Write round `round`'s checkpoint with `save(directory)`, the metrics of its
        training and this store's id, complete or not at all."""
        path = self.checkpoint(round)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        save(partial)
        if metrics is not None:
            (partial / METRICS).write_text(json.dumps(metrics))
        (partial / STORE_ID).write_text(self.store_id())
        partial.rename(path)
        return path

    def checkpoint_metrics(self, round: int) -> dict:
        """The training metrics saved with a checkpoint ({} if none were)."""
        path = self.checkpoint(round) / METRICS
        return json.loads(path.read_text()) if path.exists() else {}

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


def set_aside_checkpoints(path: Path, why: str, names: list[str] | None = None) -> None:
    """Move `path`'s checkpoints `names` (default: all) into checkpoints-set-aside-<time>,
    logging `why`: they belong to no store of this run, so are never loaded."""
    checkpoints = path / "checkpoints"
    names = names if names is not None else sorted(
        p.name for p in checkpoints.glob("round-*")) if checkpoints.is_dir() else []
    if not names:
        return
    aside = path / f"checkpoints-set-aside-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir(exist_ok=True)
    for name in names:
        (checkpoints / name).rename(aside / name)
    log.warning("%s: set checkpoints %s aside in %s (%s)", path, ", ".join(names),
                aside.name, why)


def stored_config(path: Path) -> RunConfig | None:
    """The config of the run in `path`, or None if it holds none (read without the
    lock, as a run may be writing)."""
    try:
        with RunDir.open(path) as run:
            return run.config
    except FileNotFoundError:
        return None


def finished(path: Path) -> bool:
    """Whether `path` holds a run that has stopped."""
    if not (Path(path) / STORE).exists():
        return False
    with RunDir.open(path) as run:
        return run.finished()
