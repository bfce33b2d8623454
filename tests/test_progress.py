"""Progress where no terminal watches: heartbeat log lines instead of a bar."""

import logging

from elad.progress import Heartbeat, progress


def test_heartbeat_says_how_far_a_phase_is(caplog):
    caplog.set_level(logging.INFO, logger="elad")
    beat = Heartbeat(3, "round 2: train", "step", every_s=0)
    for _ in range(3):
        beat.update()
    assert [r.getMessage().rsplit(",", 1)[0] for r in caplog.records] == [
        "round 2: train: 1/3 steps", "round 2: train: 2/3 steps", "round 2: train: 3/3 steps"]


def test_progress_without_a_terminal_yields_every_item_quietly(caplog):
    caplog.set_level(logging.INFO, logger="elad")
    assert list(progress(range(5), "generate", "batch")) == [0, 1, 2, 3, 4]
    assert caplog.records == []  # a heartbeat comes only after HEARTBEAT_S seconds
