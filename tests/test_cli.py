"""The command line as a user types it."""

import json
import re
import shutil
import subprocess
import sys

from elad.cli import main
from elad.reading.run_numbers import load_records
from elad.rundir import STORE, stored_config
from elad.store import RunStore

from conftest import TINY

FIELDS = {"round", "n_labeled", "teacher_calls", "teacher_input_tokens",
          "teacher_output_tokens", "cost_usd", "test_accuracy", "confirmed_fraction",
          "strategy", "mode", "seed", "stop_reason", "forecast", "signals"}


def _table(stdout: str) -> str:
    """The table: the lines after the 'run directory' line, before the 'stopped' line."""
    return stdout.split("\n", 1)[1].split("\nstopped", 1)[0]


def test_run_then_rerun_prints_the_same_table_without_calls(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    first = capsys.readouterr().out
    assert "round  labeled  calls" in first and "stopped: max rounds" in first
    assert "teacher calls made now: 0" not in first
    header, *rows = _table(first).splitlines()  # the table once, a row per round
    assert header.split()[:2] == ["round", "labeled"] and first.count(header) == 1
    assert [row.split()[0] for row in rows] == ["0", "1"]

    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    second = capsys.readouterr().out
    assert "teacher calls made now: 0" in second
    assert _table(second) == _table(first)
    hint = "stopped: max rounds (max_rounds=1: above 1 goes on); teacher calls made now: 0"
    assert hint in second and "stopped: max rounds; teacher calls made now: " in first
    # a budget raised on a run that max_rounds stopped buys nothing: the line says why
    assert main(["-q", "run", "--run-dir", run_dir, "budget_usd=2"]) == 0
    assert hint in capsys.readouterr().out

    assert main(["report", run_dir, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["round"] for r in records] == [0, 1]
    assert FIELDS <= set(records[0])
    assert records[1]["strategy"] == "targeted" and records[1]["mode"] == "revise"


def test_config_file_and_overrides(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text('strategy = "random"\nmode = "annotate"\n')
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", str(config), *TINY, "max_rounds=0", "--run-dir", run_dir]) == 0
    # the file's strategy; TINY's mode=revise, an override, wins over the file's
    assert "strategy=random mode=revise" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", "stratgy=random", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elad: error: override: unknown key 'stratgy'")
    assert "\n" not in err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert main(["plan", "--rounds", "1", "--run-dir", str(tmp_path)]) == 2
    assert "the forecast needs the seed round and at least 2 more" in capsys.readouterr().err
    assert main(["run", "stop_gain_per_usd=-1", "--run-dir", str(tmp_path)]) == 2
    assert "stop_gain_per_usd=-1.0 must be >= 0" in capsys.readouterr().err


def test_score_writes_why_each_question_would_be_chosen(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert "AUROC of each strategy's score" in out and "least-confidence" in out

    lines_file = tmp_path / "scores.jsonl"
    assert main(["-q", "score", "--run-dir", run_dir, "--out", str(lines_file),
                 "--limit", "10"]) == 0
    out = capsys.readouterr().out
    asked = 16 + 8  # TINY's seed round and one round, every request answered
    assert (f"10 pool questions scored with the student of round 1 (the {asked} the "
            "teacher was asked about in rounds 0 to 1 left out, as the next round's "
            "candidates leave them out)") in out
    lines = [json.loads(line) for line in lines_file.read_text().splitlines()]
    assert len(lines) == len({line["id"] for line in lines}) == 10  # a sample, no repeats
    with RunStore(tmp_path / "run" / STORE) as store:
        targets = {t.example_id for t in store.targets()}
    assert len(targets) == asked and not targets & {line["id"] for line in lines}
    assert main(["-q", "score", "--run-dir", run_dir, "--out", str(lines_file),
                 "--limit", "1000", "--round", "0"]) == 0  # all but round 0's
    assert len(lines_file.read_text().splitlines()) == 120 - 16
    for line in lines:
        assert set(line["scores"]) == {"random", "entropy", "least-confidence", "intra",
                                       "elad"}
        assert len(line["answers"]) == 2  # K
        step = line["least_stable_step"]
        if step is not None and step <= len(line["chosen_explanation"]):
            assert line["least_stable_text"] == line["chosen_explanation"][step - 1]
        assert line["hidden_answer"] is not None

    assert main(["score", "--run-dir", run_dir, "--round", "7", "--out",
                 str(lines_file)]) == 2
    assert "no student for round 7" in capsys.readouterr().err


def _stopped_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("stopped:"))


def test_the_stop_rule_stops_a_run_and_says_why_with_the_forecast(tmp_path, capsys):
    # 1000 accuracy per $ is out of reach: the rule stops at the first forecast (round 2)
    run_dir = str(tmp_path / "run")
    args = [*TINY, "max_rounds=4", "stop_gain_per_usd=1000", "--run-dir", run_dir]
    assert main(["-q", "run", *args]) == 0
    stopped = _stopped_line(capsys.readouterr().out)
    assert stopped.startswith("stopped: low forecast gain; teacher calls made now: ")
    assert "upper bound" in stopped and "below stop_gain_per_usd=1000" in stopped
    # what the forecast was; the tiny student's accuracy need not rise (flat: no level)
    assert "(+100%): " in stopped or "the test accuracy has not risen with the spend: " \
        "the next round ($" in stopped

    assert main(["-q", "run", *args]) == 0  # a rerun reprints it from the store
    assert _stopped_line(capsys.readouterr().out) == stopped.replace(
        stopped.split("made now: ")[1].split(";")[0], "0", 1)

    assert main(["report", run_dir, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["round"] for r in records] == [0, 1, 2]
    assert records[-1]["stop_reason"] == "low forecast gain"
    assert records[0]["forecast"] is None and records[1]["forecast"] is None
    forecast = records[2]["forecast"]
    assert forecast["n_points"] == 3 and forecast["n_test"] == 24
    assert forecast["gain_per_usd_upper"] < 1000
    assert [p["horizon"] for p in forecast["predictions"]] == [0.25, 0.5, 1.0]
    assert records[0]["signals"] is None
    assert records[2]["signals"]["candidates"] == 12
    assert 0 <= records[2]["signals"]["uncertain"] <= 1
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "It stops after round 2" in page

    assert main(["-q", "plan", *args, "--target", "0.9"]) == 0  # reads the finished run
    out = capsys.readouterr().out
    assert "goes on from" not in out
    if "the test accuracy has not risen with the spend" in out:  # as in the stopped line
        assert "no forecast of a gain from 3 rounds" in out
    else:
        assert "forecast from 3 rounds" in out and "(2x the spend)" in out
        assert "accuracy 0.9: " in out


def test_plan_runs_the_first_rounds_and_run_goes_on_from_there(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "plan", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 2
    assert ("max_rounds=1 ends the run before round 2, the last that --rounds 2 asks for "
            "the forecast; raise it") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    args = [*TINY, "max_rounds=3", "--run-dir", run_dir]
    assert main(["-q", "plan", *args, "--target", "0.5"]) == 0
    out = capsys.readouterr().out
    if "the test accuracy has not risen with the spend" in out:  # the tiny student's may not
        assert "no forecast of a gain from 3 rounds" in out  # (test_run_forecast: both)
    else:
        assert "forecast from 3 rounds" in out and "0.5: " in out
        assert "(the whole pool, 120 questions)" in out  # 32 of 120 asked: under 4x spend
    assert f"`elad run` with the same config and --run-dir {run_dir} goes on from round 3" \
        in out
    assert main(["-q", "run", *args]) == 0
    out = capsys.readouterr().out
    assert "stopped: max rounds" in out
    table = out.split("\n", 1)[1].split("\nstopped", 1)[0]  # rows once, in order
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["0", "1", "2", "3"]


def test_run_json_prints_the_records_alone_and_logs_have_timestamps(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "elad.cli", "run", *TINY, "max_rounds=0", "--format", "json",
         "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    [record] = json.loads(done.stdout)  # stdout is the JSON and nothing else
    assert FIELDS <= set(record) and record["stop_reason"] == "max rounds"
    logged = [line for line in done.stderr.splitlines() if " round 0: " in line]
    assert logged and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d round 0: ", line)
                          for line in logged)


def test_the_run_directory_is_spelled_alike_and_report_says_why_it_stopped(tmp_path,
                                                                           capsys):
    run_dir = str(tmp_path / "run")
    assert main(["run", *TINY, "max_rounds=0", run_dir, "-q"]) == 0  # DIR among the items
    ran = capsys.readouterr().out
    assert f"run directory: {run_dir}" in ran
    assert main(["report", "--run-dir", run_dir, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert _table(ran) in out  # the same rows
    assert out.splitlines()[-1].startswith(
        "stopped: max rounds; spent $0.0") and " of $" in out.splitlines()[-1]
    assert "; forecast: none yet" in out.splitlines()[-1]
    assert main(["export-data", "--run-dir", run_dir, "--out", str(tmp_path / "data")]) == 0
    assert (tmp_path / "data" / "messages.jsonl").exists()


def test_a_budget_spent_with_money_left_says_why(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "budget_usd=0.004", "max_rounds=10",
                 "--run-dir", run_dir]) == 0
    why = ("stopped: budget spent (what is left of the budget does not cover one more "
           "teacher request at what the last round paid per request, or the worst case "
           "that each request holds until its reply); ")
    stopped = capsys.readouterr().out
    assert why in stopped
    with RunStore(tmp_path / "run" / STORE) as store:
        spent = store.spent_usd()
    assert f"; spent ${spent:.4f} of $0.004; forecast: " in stopped  # all the run paid
    assert main(["report", run_dir]) == 0
    assert why in capsys.readouterr().out.splitlines()[-1]
    assert main(["-q", "plan", "--run-dir", run_dir]) == 0  # a plan the budget ended
    assert why in capsys.readouterr().out.splitlines()[-1]


def test_a_missing_or_damaged_checkpoint_is_one_line_and_keeps_the_paid_work(tmp_path,
                                                                           capsys):
    """Grown by a round after its last checkpoint was deleted, then truncated, a run says
    which saved student it cannot read, in one line (before: a traceback, and a missing
    folder looked up on the Hugging Face hub), and asks the teacher nothing."""
    run_dir = tmp_path / "run"
    assert main(["-q", "run", *TINY, "max_rounds=0", "--run-dir", str(run_dir)]) == 0
    with RunStore(run_dir / STORE) as store:
        calls = len(store.teacher_calls())
    capsys.readouterr()
    copy = shutil.copytree(run_dir, tmp_path / "copy")  # its checkpoint deleted:
    shutil.rmtree(copy / "checkpoints")  # the grown config is not kept (it was)
    assert main(["-q", "run", "max_rounds=1", "--run-dir", str(copy)]) == 2
    assert "round-0 is missing, " in capsys.readouterr().err
    assert stored_config(copy).max_rounds == 0
    assert load_records(copy)[-1].stop_reason == "max rounds"  # not "not finished"
    saved = run_dir / "checkpoints" / "round-0"
    weights = next(saved.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", str(run_dir)]) == 2
    damaged = capsys.readouterr().err.strip()
    assert damaged.startswith(f"elad: error: the saved student {saved} cannot be read (")
    assert "`elad export-data` writes every target paid for" in damaged
    assert "Traceback" not in damaged and len(damaged.splitlines()) == 1

    for path in saved.iterdir():
        path.unlink()
    saved.rmdir()
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", str(run_dir)]) == 2
    missing = capsys.readouterr().err.strip()
    assert missing.startswith(f"elad: error: the saved student {saved} is missing, ")
    assert main(["report", str(run_dir), "--format", "json"]) == 0  # the paid work is there
    assert [r["round"] for r in json.loads(capsys.readouterr().out)] == [0]
    with RunStore(run_dir / STORE) as store:
        assert len(store.teacher_calls()) == calls  # nothing asked in the failed tries
