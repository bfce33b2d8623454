"""Shared fixtures: a very small run config that finishes in seconds on a CPU, a teacher
behind the local OpenAI-compatible oracle server, and the shared reasoning datasets
(`../shared/data` next to the repository).

The suite runs in two pytest-xdist workers (pyproject's addopts); each, and every process
it starts, uses one thread: two workers of two threads each on two cores spend their time
waiting on each other (the suite took longer than in one process)."""

import os
from pathlib import Path

import pytest
import torch

from elad.config import load_config
from elad.teacher.request import TeacherRequest

if os.environ.get("PYTEST_XDIST_WORKER"):  # set before any test starts a process
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

TINY = [
    "task.pool_size=120", "task.test_size=24", "seed_size=16", "round_size=8",
    "candidates=12", "max_rounds=2", "budget_usd=0.5", "mode=revise",
    "saturation_window=1",  # saturation judged on each round of 8 alone
    "student.hidden_size=32", "student.layers=2", "student.heads=2",
    "student.samples=2", "student.max_new_tokens=48", "student.train_steps=8",
    "student.seed_train_steps=16", "student.batch_size=32",
    "student.warmup=none",  # cold: a warm student is built once per architecture (test_warm)
]
# TINY for a pretrained student (student.kind=hf), which has its own sizes
TINY_HF = [o for o in TINY if not o.startswith(("student.hidden_size=", "student.layers=",
                                                 "student.heads="))]


def openai_overrides(url: str, *extra: str) -> list[str]:
    """The OpenAI-compatible teacher at `url` (elad.fakes.oracle_server), at gpt-4o's prices."""
    return ["teacher=openai", f"teacher.base_url={url}", "teacher.api_key_env=",
            "teacher.model=local-oracle", "teacher.price_input_per_mtok=2.5",
            "teacher.price_output_per_mtok=10", "teacher.timeout_s=0.5", *extra]


def annotation(gateway, question: str, answer_type: str = "number") -> TeacherRequest:
    """The request to annotate `question` from scratch, for the teacher behind `gateway`."""
    return TeacherRequest.annotate(gateway.teacher.identity(), question, answer_type)


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture
def tiny_config():
    return load_config(None, TINY)


SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared dataset copies; their absence is a failure, not a skip."""
    if not (SHARED_DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.fail(f"the shared datasets are missing: expected {SHARED_DATA.resolve()} "
                    "(../shared/data next to the repository, as in CI)")
    return SHARED_DATA.resolve()
