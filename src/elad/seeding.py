"""Every random choice of a run is seeded from (seed, round, phase), so a rerun repeats
the same choices and finds its teacher replies in the store."""

from __future__ import annotations

import zlib

from elad.config import RunConfig


def phase_seed(config: RunConfig, round: int, phase: str) -> int:
    return zlib.crc32(f"{config.seed}/{round}/{phase}".encode())
