"""Bad input through the real command line: one line on stderr starting "elad: error:",
exit code 2, and nothing written (no run directory, no output folder)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elad.cli import main
from elad.lock import hold

from conftest import TINY


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elad: error:") and "\n" not in err, err
    return err


@pytest.mark.parametrize("override, message", [
    ("task.families=nosuch", "('nosuch') is not one of arithmetic, coin_flip, largest"),
    ("task.families=", "task.families names no family"),
    ("teacher.max_output_tokens=99999999999999999999", "is too large"),
    ("budget_usd=1e308", "budget_usd=1e+308 must be in (0, 1000000.0]"),
    ("budget_usd=nan", "budget_usd=nan must be a finite number"),
    ("teacher.price_output_per_mtok=inf", "must be a finite number"),
    ("task.kind=gsm8k teacher.kind=reference task.path=/no/such/gsm8k",
     "task.path='/no/such/gsm8k': no such file or folder"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, override,
                                                             message):
    run_dir = tmp_path / "run"
    err = one_line_error(capsys, ["-q", "run", *override.split(), "--run-dir", str(run_dir)])
    assert message in err
    assert not run_dir.exists()


@pytest.mark.parametrize("argv, message", [
    (["plan", "--target", "1.5"], "--target 1.5: a test accuracy above 0 and at most 1"),
    (["plan", "--target", "nan"], "--target nan: a test accuracy above 0 and at most 1"),
    (["plan", "--target", "0"], "--target 0: a test accuracy above 0 and at most 1"),
    (["bench", *TINY, "max_rounds=1", "--regimes", "cold", "--configs", "random/annotate",
      "--seeds", "0", "--jobs", "0"], "--jobs 0: runs at a time, 1 or more"),
])
def test_bad_command_options_are_refused_before_any_run(tmp_path, capsys, argv, message):
    """Before: answered as if meaningful (a target of 1.5 'beyond what 6 rounds can
    forecast'), or, for --jobs 0, the default grid started."""
    out = tmp_path / "out"
    err = one_line_error(capsys, [*argv, "--run-dir" if argv[0] == "plan" else "--out",
                                  str(out)])
    assert message in err
    assert not out.exists()


def test_a_config_file_that_is_not_utf8_or_is_a_directory(tmp_path, capsys):
    run_dir = tmp_path / "run"
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('# caf\xe9\nseed = 1\n'.encode("latin-1"))
    err = one_line_error(capsys, ["-q", "run", str(latin), "--run-dir", str(run_dir)])
    assert "latin1.toml: not a UTF-8 text file" in err
    folder = tmp_path / "configs"
    folder.mkdir()
    err = one_line_error(capsys, ["-q", "run", str(folder), "--run-dir", str(run_dir)])
    assert "configs: a directory, not a config file" in err
    assert not run_dir.exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["-q", "run", *TINY, "max_rounds=0", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.mark.parametrize("command", ["export", "export-data"])
def test_export_to_a_file_is_refused(tmp_path, capsys, tiny_run, command):
    existing = tmp_path / "model.bin"
    existing.write_text("keep me")
    err = one_line_error(capsys, ["-q", command, str(tiny_run), "--out", str(existing)])
    assert f"--out {existing}: {existing} is a file, not a folder" in err
    below = existing / "sub"  # a folder under a file
    err = one_line_error(capsys, ["-q", command, str(tiny_run), "--out", str(below)])
    assert "is a file, not a folder" in err
    assert existing.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_a_locked_run_directory_is_refused_before_torch_is_imported(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # the command as `python -m elad.cli` runs it, saying at exit whether torch came in
    program = ("import atexit, runpy, sys\n"
               "atexit.register(lambda: print('torch imported:', 'torch' in sys.modules))\n"
               "sys.argv = ['elad', *sys.argv[1:]]\n"
               "runpy.run_module('elad.cli', run_name='__main__')\n")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    with hold(run_dir):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", program, "run", *TINY,
                                 "--run-dir", str(run_dir)],
                                capture_output=True, text=True, env=env, timeout=120)
        seconds = time.perf_counter() - started
    assert result.returncode == 2
    err = result.stderr.strip()
    assert err.startswith("elad: error:") and "\n" not in err, err
    assert f"{run_dir} is in use by pid {os.getpid()}" in err
    assert result.stdout.strip() == "torch imported: False"
    assert not (run_dir / "run.sqlite").exists()
    print(f"refused in {seconds:.2f}s")
