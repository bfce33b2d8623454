"""Per-round metrics to experiment trackers (report_to), read back from a real one:
TensorBoard's event files."""

from importlib.util import find_spec

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from elad.cli import main
from elad.config import TRACKERS, load_config
from elad.loop import run

from conftest import TINY

LOGGED = ["test_accuracy", "cost_usd", "teacher_calls", "teacher_input_tokens",
          "teacher_output_tokens", "n_labeled", "confirmed_fraction", "train_loss"]


def test_tensorboard_gets_each_round_once(tmp_path):
    config = load_config(None, [*TINY, "max_rounds=1", "report_to=tensorboard"])
    records, _ = run(config, tmp_path / "run")
    logs = tmp_path / "run" / "tensorboard"
    events = EventAccumulator(str(logs))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == sorted(LOGGED)
    for name in LOGGED:
        logged = {e.step: e.value for e in events.Scalars(name)}
        expected = {r.round: getattr(r, name) for r in records
                    if getattr(r, name) is not None}
        assert logged == pytest.approx(expected, rel=1e-6), name  # stored as float32
    assert [(e.step, e.value > 0) for e in events.Scalars("train_loss")] == [(0, True),
                                                                             (1, True)]
    assert [e.step for e in events.Scalars("confirmed_fraction")] == [1]  # none in round 0

    files = sorted(logs.iterdir())
    run(config, tmp_path / "run")  # rereading a finished run logs nothing
    assert sorted(logs.iterdir()) == files


def test_a_tracker_not_installed_or_unknown_is_a_one_line_error(tmp_path, capsys):
    missing = next(name for name in TRACKERS if find_spec(name) is None)
    for given, expected in [
            (missing, f"report_to names {missing}, not installed (pip install {missing})"),
            ("tensorboard,comet",
             "report_to names comet; known: trackio, tensorboard, wandb, mlflow")]:
        assert main(["run", f"report_to={given}", "--run-dir", str(tmp_path)]) == 2
        assert capsys.readouterr().err == f"elad: error: {expected}\n"


def test_a_tracker_that_fails_is_left_out_and_the_run_goes_on(tmp_path, caplog):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tensorboard").write_text("a file where the logs would go")
    config = load_config(None, [*TINY, "max_rounds=0", "report_to=tensorboard"])
    records, _ = run(config, tmp_path / "run")
    assert records[-1].stop_reason == "max rounds"
    assert "report_to tensorboard failed, the run goes on without it" in caplog.text
