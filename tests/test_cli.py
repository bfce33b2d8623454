"""The command line as a user types it."""

import json

from elad.cli import main

from conftest import TINY

FIELDS = {"round", "n_labeled", "teacher_calls", "teacher_input_tokens",
          "teacher_output_tokens", "cost_usd", "test_accuracy", "confirmed_fraction",
          "strategy", "mode", "seed"}


def _table(stdout: str) -> str:
    """The final table: the lines after the blank line, before the 'stopped' line."""
    return stdout.split("\n\n")[-1].rsplit("\nstopped", 1)[0]


def test_run_then_rerun_prints_the_same_table_without_calls(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    first = capsys.readouterr().out
    assert "round  labeled  calls" in first and "stopped: max rounds" in first
    assert "teacher calls made now: 0" not in first

    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    second = capsys.readouterr().out
    assert "teacher calls made now: 0" in second
    assert _table(second) == _table(first)

    assert main(["report", run_dir, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["round"] for r in records] == [0, 1]
    assert FIELDS <= set(records[0])
    assert records[1]["strategy"] == "elad" and records[1]["mode"] == "revise"


def test_config_file_and_overrides(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text('strategy = "random"\nmode = "annotate"\n')
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", str(config), *TINY, "max_rounds=0", "--run-dir", run_dir]) == 0
    assert "strategy=random mode=annotate" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", "stratgy=random", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elad: error: override: unknown key 'stratgy'")
    assert "\n" not in err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds no run" in capsys.readouterr().err


def test_score_writes_why_each_question_would_be_chosen(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "max_rounds=1", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert "AUROC of each strategy's score" in out and "least-confidence" in out

    lines_file = tmp_path / "scores.jsonl"
    assert main(["-q", "score", "--run-dir", run_dir, "--out", str(lines_file),
                 "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "student of round 1" in out
    lines = [json.loads(line) for line in lines_file.read_text().splitlines()]
    assert len(lines) == 10
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
