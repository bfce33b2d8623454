"""The command line's shape, without running anything: every argument has help, the run
directory is spelled the same way by every command, and global flags go anywhere."""

import argparse
from collections import defaultdict

import pytest

from elad.cli_parser import make_parser, subcommands


def parse(argv: list[str]) -> argparse.Namespace:
    return make_parser(defaultdict(lambda: None)).parse_args(argv)


def test_every_argument_of_every_subcommand_has_help():
    parser = make_parser(defaultdict(lambda: None))
    missing = []
    for command in [parser, *subcommands(parser)]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{command.prog} {choice.dest}" for choice in
                            action._choices_actions if not choice.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{command.prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert len(subcommands(parser)) >= 10  # the walk reaches every one, `teacher check` too


@pytest.mark.parametrize("command", ["score", "report", "export", "export-data"])
def test_a_run_is_dir_or_run_dir_alike(command, tmp_path):
    extra = [] if command == "report" else ["--out", str(tmp_path / "out")]
    positional = parse([command, "R", *extra])
    flagged = parse([command, *extra, "--run-dir", "R"])
    assert positional.run_dir == flagged.run_dir == "R"
    assert parse([command, "R", "--run-dir", "R", *extra]).run_dir == "R"  # the same twice


@pytest.mark.parametrize("argv", [
    ["report", "A", "--run-dir", "B"],
    ["export", "A", "--run-dir", "B", "--out", "O"],
    ["bench", "--out", "A", "--run-dir", "B"],
    ["run", "--run-dir", "A", "--run-dir", "B"],
    ["report"],
    ["bench"],
])
def test_two_run_directories_or_none_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as done:
        parse(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "two run directories" in err or "already" in err or "required" in err


def test_run_and_plan_find_their_directory_among_the_items(tmp_path):
    config = tmp_path / "my.conf"  # a config file need not end in .toml if it exists
    config.write_text("seed = 1\n")
    for command in ("run", "plan"):
        args = parse([command, str(config), "runs/new", "seed=2"])
        assert args.run_dir == "runs/new" and args.items == [str(config), "seed=2"]
        assert parse([command, "c.toml"]).run_dir == "elad-run"  # the default
        assert parse([command, "c.toml"]).items == ["c.toml"]
        # with --run-dir, every item is a config or an override, as before
        assert parse([command, "R", "--run-dir", "S"]).items == ["R"]
        assert parse([command, "R", "--run-dir", "R"]).items == []
    with pytest.raises(SystemExit):
        parse(["run", "runs/a", "runs/b"])


def test_overrides_may_follow_the_options():
    """As the README writes a run, then a setting added at the end."""
    args = parse(["run", "c.toml", "--run-dir", "runs/x", "max_rounds=1", "seed=2"])
    assert args.run_dir == "runs/x" and args.items == ["c.toml", "max_rounds=1", "seed=2"]
    args = parse(["run", "c.toml", "--dry-run", "max_rounds=1"])
    assert args.dry_run and args.items == ["c.toml", "max_rounds=1"]
    with pytest.raises(SystemExit):  # an unknown option is still an error
        parse(["run", "c.toml", "--dry-run", "--bogus"])
    with pytest.raises(SystemExit):  # and so is an extra word where no item is taken
        parse(["report", "R", "more"])


@pytest.mark.parametrize("name", ["elad.tml", "elad.TOML", "conf.yaml"])
def test_a_mistyped_config_name_is_a_config_not_a_new_run_directory(name, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse(["run", name, "--dry-run"])
    assert args.run_dir == "elad-run" and args.items == [name]
    (tmp_path / "runs.json").mkdir()  # an existing directory stays one, whatever its name
    assert parse(["run", "runs.json"]).run_dir == "runs.json"


def test_bench_takes_its_grid_as_run_dir_or_out():
    assert parse(["bench", "--out", "G"]).run_dir == parse(["bench", "--run-dir", "G"]
                                                          ).run_dir == "G"
    assert parse(["bench", "--out", "G", "--run-dir", "G"]).run_dir == "G"


@pytest.mark.parametrize("argv", [
    ["-q", "report", "R"], ["report", "R", "-q"], ["report", "-q", "R"],
    ["run", "seed=1", "--quiet"], ["teacher", "check", "-q"], ["-q", "teacher", "check"],
])
def test_quiet_goes_before_or_after_the_subcommand(argv):
    assert parse(argv).quiet is True


def test_without_quiet_it_is_false_everywhere():
    assert parse(["report", "R"]).quiet is False
    assert parse(["teacher", "check"]).quiet is False
