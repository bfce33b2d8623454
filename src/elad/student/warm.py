"""The warm tiny student (`student.warmup=curriculum`): a tiny student first trained on
the curriculum's exact solutions (tasks/curriculum.py), the offline stand-in for a
pretrained model. No teacher is asked and no cost is recorded.

Each round's fine-tuning rehearses the curriculum (`rehearsed`): as many curriculum pairs
as teacher targets join the training data. A pretrained model fine-tuned with LoRA at a
low learning rate keeps what it knew; the tiny student, trained in full at a high one on
a hundred targets, forgets it (by how much: BENCHMARKS.md, "Measurements behind design
choices"). Every strategy gets the same rehearsal: it costs no teacher money.

It is built once per student architecture (and WARMUP's settings), deterministically
from WARMUP's seed, and kept in `$ELAD_CACHE/warm/<key>` (default `~/.cache/elad`): every
run, of every seed, starts its seed round from the same checkpoint, as runs with a
pretrained student start from the same weights. Concurrent runs build it once (a lock).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from pathlib import Path

from elad.config import StudentConfig
from elad.config_checks import TINY_ONLY
from elad.student.hf import HFStudent
from elad.student.pretrained import cache_dir, cached
from elad.student.tiny import build_tiny_student, tiny_name
from elad.tasks.curriculum import STEPS, curriculum, tokenizer_corpus

log = logging.getLogger("elad")

# what the warm-up does; any change here makes a new cache key (bump `version` when the
# code that builds it changes)
WARMUP = {"version": 3, "steps": STEPS, "questions": 2400, "beginnings": 1200,
          "corpus_questions": 600, "train_steps": 1500, "learning_rate": 5e-3,
          "batch_size": 32, "seed": 0}
SHIPPED = Path(__file__).with_name("warm_shipped")  # build_warm's output, committed
ARCHITECTURE = TINY_ONLY  # the tiny student's own sizes


def rehearsed(pairs: list[tuple[str, str]], seed: int,
              warmup: dict | None = None) -> list[tuple[str, str]]:
    """The teacher's `pairs` and as many curriculum pairs (a seeded sample; all of them
    when there are fewer), for a warm student's fine-tuning."""
    warmup = warmup or WARMUP
    lessons = lessons_of(warmup)
    return pairs + random.Random(seed).sample(lessons, min(len(pairs), len(lessons)))


def lessons_of(warmup: dict) -> list[tuple[str, str]]:
    """The warm-up's curriculum pairs: its short chains and its beginnings."""
    return curriculum(warmup["questions"], warmup["seed"], warmup["beginnings"])


def warm_key(config: StudentConfig, warmup: dict | None = None) -> str:
    """The cache key: the student's architecture and the warm-up's settings (default
    WARMUP)."""
    described = {"student": {name: getattr(config, name) for name in ARCHITECTURE},
                 "warmup": warmup or WARMUP}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
    return f"{tiny_name(config.hidden_size, config.layers)}-{digest[:16]}"


def warm_dir(config: StudentConfig, warmup: dict | None = None) -> Path:
    """Where the warm student is: shipped with elad (the default student's, 1.6 MB, so
    the offline default needs no warm-up), else in the cache."""
    shipped = SHIPPED / warm_key(config, warmup)
    if (shipped / "tokenizer.json").is_file():
        return shipped
    return cache_dir() / "warm" / warm_key(config, warmup)


def warm_student(config: StudentConfig, warmup: dict | None = None) -> HFStudent:
    """The warm student, loaded from the cache (built there first if it is not)."""
    warmup = warmup or WARMUP
    directory = cached(warm_dir(config, warmup), "tokenizer.json",
                       lambda target: build_warm(config, target, warmup))
    return HFStudent.load(directory, name=tiny_name(config.hidden_size, config.layers),
                          batch_size=config.batch_size,
                          max_new_tokens=config.max_new_tokens)


def build_warm(config: StudentConfig, directory: Path, warmup: dict | None = None) -> dict:
    """Train a fresh tiny student on the curriculum and save it in `directory`
    (complete, or not there at all). Returns the training metrics, wall and CPU time."""
    warmup = warmup or WARMUP
    started, cpu = time.perf_counter(), time.process_time()
    pairs = lessons_of(warmup)
    corpus = tokenizer_corpus(pairs, warmup["corpus_questions"], warmup["seed"])
    student = build_tiny_student(corpus, config, warmup["seed"])
    log.info("warm-up: training a %s on %d curriculum questions for %d steps (once; "
             "cached in %s)", student.name, len(pairs), warmup["train_steps"], directory)
    metrics = student.train(pairs, warmup["train_steps"], warmup["learning_rate"],
                            warmup["seed"], batch_size=warmup["batch_size"])
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    student.save(partial)
    metrics["wall_s"] = round(time.perf_counter() - started, 1)
    metrics["cpu_s"] = round(time.process_time() - cpu, 1)  # all threads: a loaded
    # machine's wall time says little
    (partial / "warmup.json").write_text(json.dumps({"warmup": warmup, **metrics},
                                                    indent=1))
    partial.rename(directory)
    log.info("warm-up: done in %.1fs, loss %.4f", metrics["wall_s"], metrics["train_loss"])
    return metrics
