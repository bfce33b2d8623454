"""A pretrained student's local folder (`student.model`), known by its files: a run
records them at its start and goes on only with a folder that holds the same, so that
the project may move (rundir.MOVABLE) and its checkpoints, adapters on that model, are
never put on another one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from elad.config import ConfigError, StudentConfig
from elad.config_checks import is_local
from elad.store import RunStore

STUDENT_MODEL = "student model"  # the store's meta: the folder's files (`model_files`)
MODEL_FILES = (".json", ".safetensors", ".bin", ".model", ".jinja")  # and TOKENIZER_TEXT
TOKENIZER_TEXT = ("merges.txt", "vocab.txt")
WHOLE = 2 ** 24  # files up to 16 MiB (configs, tokenizers) are read whole
SAMPLE = 2 ** 20  # of a larger one (the weights): its size, first and last MiB


def model_files(student: StudentConfig) -> dict[str, str] | None:
    """A digest of each model and tokenizer file at the top of a pretrained student's
    local folder, what `from_pretrained` reads (None: a hub name, a preset, the tiny
    student). Hashing gigabytes of weights would take minutes: their size, first and last
    MiB stand for them (a header, its tensors' offsets, the first and last values)."""
    folder = Path(student.model).expanduser()
    if student.kind != "hf" or not is_local(student.model) or not folder.is_dir():
        return None
    files = {}
    try:
        for path in sorted(folder.iterdir()):
            read = path.suffix in MODEL_FILES or path.name in TOKENIZER_TEXT
            if read and path.is_file():
                files[path.name] = file_digest(path)
    except OSError as error:
        raise ConfigError(f"student.model={student.model}: {error.filename} cannot be "
                          f"read ({error.strerror})") from None
    return files


def file_digest(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(f"{size}\0".encode())
    with path.open("rb") as file:
        if size <= WHOLE:
            digest.update(file.read())
        else:
            digest.update(file.read(SAMPLE))
            file.seek(size - SAMPLE)
            digest.update(file.read(SAMPLE))
    return digest.hexdigest()


def check_same_model(store: RunStore, student: StudentConfig, moved: bool) -> None:
    """Refuse a pretrained student's folder without the files the run's student started
    from, naming those that differ, and a folder given another path (`moved`) where the
    run has none recorded (an older elad started it); then record it. Before anything is
    paid, the folder is the run's as it is now."""
    files, stored = model_files(student), store.get_meta(STUDENT_MODEL)
    if moved and stored is None:
        raise ConfigError(f"{store.path.parent}: this run has not recorded its student's "
                          "files (an older elad started it), so a student.model given "
                          "another path cannot be checked to be the same model: resume it "
                          "once from the old path (the folder back there), after which it "
                          "may move")
    if stored is not None and not store.paid_nothing():
        old = json.loads(stored)
        differ = sorted(name for name in {*old, *(files or {})}
                        if old.get(name) != (files or {}).get(name))
        if differ:
            raise ConfigError(f"{store.path.parent}: student.model={student.model} does "
                              "not hold the model files this run's student started from "
                              f"({', '.join(differ)} differ: another model, or changed "
                              "since?); restore them, or start another --run-dir")
    if files is not None:
        store.set_meta(STUDENT_MODEL, json.dumps(files))
