"""One run, as every phase of the loop reads it: its config, directory and store, the
teacher gateway, the pool and test set (testset.py), and its stop rule. Made once per
run (`Run.start`) instead of passing the same values to every phase."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from elad.budget import teacher_prices
from elad.config import RunConfig
from elad.rundir import RunDir
from elad.stopping import StopRule
from elad.store import RunStore
from elad.tasks import load_task
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
        pool, test = pool_and_test(config, gateway, load_task(config.task, config.seed))
        store.add_examples("pool", pool)
        store.add_examples("test", test)
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
