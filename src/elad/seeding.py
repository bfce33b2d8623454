"""Every random choice of a run is seeded from (seed, round, phase), so a rerun (a
resumed run, or `elad scores`) repeats the same choices."""

from __future__ import annotations

import zlib

from elad.config import RunConfig


def phase_seed(config: RunConfig, round: int, phase: str) -> int:
    return zlib.crc32(f"{config.seed}/{round}/{phase}".encode())
