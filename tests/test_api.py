"""The Python API: `import elad` (no torch), `elad.run` with a dict, a RunConfig or a
file, `elad.report`, `elad.__version__` and `elad --version`."""

import subprocess
import sys
from importlib.metadata import version

import pytest

import elad
from elad.cli import main
from elad.config import ConfigError, RunConfig, load_config
from elad.reading.export_data import ExportError
from elad.rundir import stored_config

from conftest import TINY


def test_version_is_the_installed_packages_and_the_cli_prints_it(capsys):
    assert elad.__version__ == version("elad")
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"elad {elad.__version__}"


def test_import_elad_loads_no_torch_and_shows_its_api_alone():
    code = "import sys, elad; print('torch' in sys.modules, dir(elad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("False ['__version__', 'export', 'export_data', "
                                  "'report', 'run']")  # not Path, TYPE_CHECKING, ...


def config_dict(items: list[str]) -> dict:
    """key=value overrides as a config-file dict (sections as nested dicts)."""
    sections: dict = {}
    for item in items:
        key, value = item.split("=")
        *section, name = key.split(".")
        target = sections.setdefault(section[0], {}) if section else sections
        target[name] = value
    return sections


TINY_DICT = config_dict(TINY)


def test_run_with_a_dict_then_a_file_resumes_and_reports(tmp_path):
    sections = config_dict([*TINY, "max_rounds=1"])
    records = elad.run(sections, tmp_path / "run")
    assert [r.round for r in records] == [0, 1] and records[-1].stop_reason
    toml = tmp_path / "run.toml"
    toml.write_text("\n".join(f"{k} = {v!r}" for k, v in sections.items()
                              if not isinstance(v, dict)) + "\n" + "\n".join(
        f"[{name}]\n" + "\n".join(f"{k} = {v!r}" for k, v in table.items())
        for name, table in sections.items() if isinstance(table, dict)) + "\n")
    again = elad.run(toml, tmp_path / "run")  # the same config: a reread, nothing paid
    assert again == records
    assert elad.run(load_config(toml), tmp_path / "run") == records
    page = elad.report(tmp_path / "run")
    assert page == tmp_path / "run" / "report.html" and "Stop and budget" in page.read_text()
    assert elad.run(run_dir=tmp_path / "run") == records  # no config: the stored one

    # a dict grows the stored run: before, it applied on the defaults, and the grown run
    # silently took the default budget ($0.25) instead of its own
    grown = elad.run({"max_rounds": 2}, tmp_path / "run")
    assert [r.round for r in grown] == [0, 1, 2] and grown[0] == records[0]
    assert grown[1].cost_usd == records[1].cost_usd and not grown[1].stop_reason  # went on
    assert stored_config(tmp_path / "run").budget_usd == float(sections["budget_usd"]) != \
        RunConfig().budget_usd


def test_a_bad_config_dict_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="budget_usd"):
        elad.run({"budget_usd": -1}, tmp_path / "run")
    with pytest.raises(ConfigError, match="nosuch"):
        elad.run({"student": {"nosuch": 1}}, tmp_path / "run")
    with pytest.raises(ConfigError, match="config keys are text, as in a config file"):
        elad.run({1: 2}, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_export_and_export_data_write_what_the_commands_write(tmp_path):
    run_dir = tmp_path / "run"
    records = elad.run({**TINY_DICT, "max_rounds": 1}, run_dir)
    counts = elad.export_data(run_dir, tmp_path / "data", teacher_replies=True)
    targets = len((tmp_path / "data" / "messages.jsonl").read_text().splitlines())
    assert counts["messages"] == counts["prompt_completion"] == targets == \
        records[-1].n_labeled
    assert counts["teacher_replies"] == records[-1].teacher_calls
    assert elad.export(run_dir, tmp_path / "model") == 1  # the last trained round
    assert elad.export(run_dir, tmp_path / "model0", round=0) == 0
    for folder, round in (("model", 1), ("model0", 0)):
        assert (tmp_path / folder / "config.json").exists()
        assert f"after round {round}" in (tmp_path / folder / "README.md").read_text()
    with pytest.raises(ConfigError, match="needs a LoRA student"):
        elad.export(run_dir, tmp_path / "adapter", adapter_only=True)
    (tmp_path / "afile").write_text("")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        elad.export_data(run_dir, tmp_path / "afile" / "data")
    assert not (tmp_path / "adapter").exists()


def test_export_data_of_a_stored_run_loads_no_torch(tmp_path):
    from test_report import write_run

    write_run(tmp_path / "run")
    code = ("import sys, elad; "
            f"counts = elad.export_data({str(tmp_path / 'run')!r}, "
            f"{str(tmp_path / 'data')!r}); "
            "assert counts['messages'] == 2, counts; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
