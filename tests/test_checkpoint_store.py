"""A checkpoint is trusted only with the store it was made with: a run whose run.sqlite
was deleted, started again with another seed and student, trains its own round 0 instead
of evaluating the old run's checkpoint (as it once did, paying the seed round again)."""

import json

from elad.cli import main
from elad.rundir import STORE_ID, RunDir

from conftest import TINY


def test_a_new_store_never_loads_an_old_runs_checkpoint(tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    base = [*TINY, "max_rounds=0"]
    where = ["--run-dir", str(run_dir)]
    assert main(["-q", "run", *base, *where]) == 0
    with RunDir.open(run_dir) as run:
        old = run.store.rounds()[0]
    for name in ("run.sqlite", "run.sqlite-wal", "run.sqlite-shm"):
        (run_dir / name).unlink(missing_ok=True)

    caplog.set_level("WARNING", logger="elad")
    assert main(["-q", "run", *base, "seed=1", "student.hidden_size=48", *where]) == 0
    capsys.readouterr()
    assert any("set checkpoints round-0 aside" in r.message for r in caplog.records)
    (aside,) = run_dir.glob("checkpoints-set-aside-*")
    assert json.loads((aside / "round-0" / "config.json").read_text())["hidden_size"] == 32

    with RunDir.open(run_dir) as run:
        new = run.store.rounds()[0]
        checkpoint = run.checkpoint(0)
        assert (checkpoint / STORE_ID).read_text() == run.store.get_meta(STORE_ID)
        metrics = run.checkpoint_metrics(0)
    # round 0 trained the new student: its checkpoint, its loss
    assert json.loads((checkpoint / "config.json").read_text())["hidden_size"] == 48
    assert new.train_loss is not None and new.train_loss == metrics["train_loss"]
    assert new.train_loss != old.train_loss
    assert new.seed == 1

    # a checkpoint of another store in a run that has rounds: refused, in one line
    (checkpoint / STORE_ID).write_text("another-store")
    assert main(["-q", "run", *base, "seed=1", "student.hidden_size=48", *where]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elad: error:") and "\n" not in err
    assert "checkpoints round-0 were made with another run store" in err
