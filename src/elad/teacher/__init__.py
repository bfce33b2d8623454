"""Teachers: who annotates and revises explanations. `make_teacher` picks one by config."""

from __future__ import annotations

from elad.config import TeacherConfig
from elad.teacher.oracle import OracleTeacher
from elad.teacher.protocol import Teacher


def make_teacher(config: TeacherConfig) -> Teacher:
    if config.kind == "openai":
        from elad.teacher.openai import (  # needs the openai package
            OpenAITeacher,
            api_key,
        )

        return OpenAITeacher(config, api_key(config))
    return OracleTeacher(config.max_output_tokens, config.noise)
