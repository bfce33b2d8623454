"""One run, as every phase of the loop reads it: its config, directory and store, the
teacher gateway, the pool and test set (testset.py), and its stop rule. Made once per
run (`Run.start`) instead of passing the same values to every phase."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from elad.budget import teacher_prices
from elad.config import ConfigError, RunConfig
from elad.model_folder import check_same_model
from elad.rundir import MOVABLE, RunDir
from elad.stopping import StopRule
from elad.store import RunStore
from elad.tasks import load_task
from elad.tasks.synthetic import TaskData
from elad.teacher import make_teacher
from elad.teacher.gateway import TeacherGateway
from elad.teacher.protocol import Teacher
from elad.testset import pool_and_test
from elad.types import Example


@dataclass
class Run:
    config: RunConfig
    rundir: RunDir
    gateway: TeacherGateway
    pool: list[Example]
    test: list[Example]
    stop: StopRule

    @classmethod
    def start(cls, config: RunConfig, rundir: RunDir, teacher: Teacher | None) -> Run:
        """The run of `config` in `rundir`, its task's examples stored; `teacher`
        replaces the one the config names."""
        store = rundir.store
        gateway = TeacherGateway(teacher or make_teacher(config.teacher, config.task),
                                 store, teacher_prices(config.teacher),
                                 config.teacher.concurrency, batch=config.teacher.batch)
        data = load_task(config.task, config.seed)
        digests = question_digests(data)
        moved = [key for key, _, _ in rundir.changed if key in MOVABLE]
        # before a test set is annotated
        files = [key for key in moved if key.startswith("task.")]
        stored = check_same_questions(store, digests, files)
        check_same_model(store, config.student, "student.model" in moved)
        pool, test = pool_and_test(config, gateway, data)
        if not stored:  # else the store holds it: a million rows are not written again
            store.add_examples("pool", pool)
        store.add_examples("test", test)  # a rerun may have annotated more of it
        store.set_meta("questions", digests)  # last: only once the pool is all there
        stop = StopRule(config, store, pool, gateway.teacher, gateway.prices)
        return cls(config, rundir, gateway, pool, test, stop)

    @cached_property
    def test_set_usd(self) -> float:
        """What the teacher's annotations of the test set cost (0: labeled data)."""
        return self.store.test_set_totals()["cost_usd"]

    @property
    def store(self) -> RunStore:
        return self.rundir.store

    @cached_property
    def pool_by_id(self) -> dict[str, Example]:
        return {e.id: e for e in self.pool}



def question_digests(data: TaskData) -> str:
    """A digest of each split's ids and questions, and one of the test set's answers
    (the pool's are never read: `Example`), as JSON (the store's meta keeps the first
    start's)."""
    digests = {}
    for split, examples in (("pool", data.pool), ("test", data.test)):
        digest = hashlib.sha256()  # fed row by row: no copy of a million questions
        for e in examples:
            digest.update(f"{e.id}\0{e.question}\0".encode())
        digests[split] = digest.hexdigest()
    answers = hashlib.sha256()
    for e in data.test:
        answers.update(f"{e.answer}\0".encode())
    digests[TEST_ANSWERS] = answers.hexdigest()
    return json.dumps(digests)


TEST_ANSWERS = "test answers"  # its key in the digests (a run started before has none)


def check_same_questions(store: RunStore, digests: str, moved: list[str]) -> bool:
    """Whether the store holds the run's questions already (False: a first start).
    Refuses to go on with other questions or test answers than the run started with: an
    id is a line number, so an edited data file would give stored replies and targets to
    other questions, and grade its rounds on other answers. A data file given another
    path (`moved`: MOVABLE keys changed) goes on if it holds the same; a run started
    before the answers were recorded (by an older elad) cannot show it does."""
    stored = store.get_meta("questions")
    if stored is None:
        return False
    old, new = json.loads(stored), json.loads(digests)
    if moved and TEST_ANSWERS not in old:
        raise ConfigError(f"{store.path.parent}: this run has not recorded its test "
                          f"answers yet (an older elad started it), so a data file given "
                          f"another path ({', '.join(moved)}) cannot be checked to be the "
                          "same: resume it once from the old path (the file back there), "
                          "after which it may move")
    changed = [f"{split} questions" for split in ("pool", "test")
               if old[split] != new[split]]
    if not changed and old.get(TEST_ANSWERS, new[TEST_ANSWERS]) != new[TEST_ANSWERS]:
        changed = [TEST_ANSWERS]
    if changed:
        raise ConfigError(f"{store.path.parent}: the {' and '.join(changed)} are not the "
                          "ones this run started with (was a data file edited? questions "
                          "are known by their line numbers); restore the file, or start "
                          "another --run-dir")
    return True
