"""Teachers: who annotates and revises explanations. `make_teacher` picks one by config."""

from __future__ import annotations

from elad.config import TaskConfig, TeacherConfig
from elad.teacher.oracle import OracleTeacher
from elad.teacher.protocol import Teacher


def make_teacher(config: TeacherConfig, task: TaskConfig | None = None) -> Teacher:
    """The teacher the config names; `reference` replays the rationales of `task`."""
    if config.kind == "openai":
        from elad.teacher.openai import OpenAITeacher, api_key  # needs the openai package

        return OpenAITeacher(config, api_key(config))
    if config.kind == "reference":
        from elad.teacher.reference import ReferenceTeacher

        return ReferenceTeacher.from_task(task, config.max_output_tokens)
    return OracleTeacher(config.max_output_tokens, config.noise)
