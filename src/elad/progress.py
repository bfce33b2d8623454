"""Progress of the long phases (sampling, scoring, training, teacher calls): a tqdm bar
when someone watches (stderr is a terminal), else a log line at most every
`HEARTBEAT_S` seconds, so that CI output is never silent for minutes.

    progress.show_bars(True)  # once, by the CLI: a terminal watches
    for step in progress(range(steps), "train", "step"): ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from tqdm import tqdm

log = logging.getLogger("elad")

HEARTBEAT_S = 30.0

_bars = False  # a process setting: the CLI sets it once (show_bars); library calls stay quiet


def show_bars(show: bool) -> None:
    """Bars (a terminal watches) or heartbeat log lines, for every long phase after this."""
    global _bars
    _bars = show


def bars_shown() -> bool:
    return _bars


class Heartbeat:
    """tqdm's `update` and `close` where no bar is shown: a log line ("train: 120/300
    steps, 41s") when `every_s` seconds have passed since the last one."""

    def __init__(self, total: int, desc: str, unit: str, every_s: float = HEARTBEAT_S):
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.units = unit + ("es" if unit.endswith(("s", "ch")) else "s")  # batches
        self.n = 0
        self.started = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            log.info("%s: %d/%d %s, %.0fs", self.desc, self.n, self.total, self.units,
                     now - self.started)

    def close(self) -> None:
        pass


def meter(total: int, desc: str, unit: str) -> tqdm | Heartbeat:
    """A bar to `update` (show_bars: a terminal is watching), else heartbeats."""
    if _bars:
        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    return Heartbeat(total, desc, unit)


def progress(items: Sequence, desc: str, unit: str) -> Iterator:
    """`items`, one by one, with a bar or heartbeats."""
    bar = meter(len(items), desc, unit)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
