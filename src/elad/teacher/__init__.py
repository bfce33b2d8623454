"""Teachers: who annotates and revises explanations. `make_teacher` picks one by config."""

from __future__ import annotations

from elad.config import TeacherConfig
from elad.teacher.oracle import OracleTeacher
from elad.teacher.protocol import Teacher


def make_teacher(config: TeacherConfig) -> Teacher:
    return OracleTeacher(config.max_output_tokens)
