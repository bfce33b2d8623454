import dataclasses
import math
import re
from pathlib import Path

import pytest

from elad.config import ConfigError, RunConfig, config_from_json, load_config
from elad.config_checks import settings

RANGES = {key: f.metadata["range"] for key, f, _ in settings(RunConfig())
          if "range" in f.metadata}  # each numeric setting's range, from its field


def test_defaults_validate():
    assert load_config().strategy == "targeted"


def test_overrides_convert_types_and_set_sections():
    config = load_config(None, ["strategy=random", "student.samples=2", "alpha=0.25",
                                "hint=true", "task.families=coin_flip,largest",
                                "teacher=oracle"])
    assert config.strategy == "random" and config.student.samples == 2
    assert config.alpha == 0.25 and config.hint is True
    assert config.task.families == ["coin_flip", "largest"]


def test_toml_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = 3\nmode = "annotate"\n[student]\nlayers = 2\n')
    config = load_config(path, ["seed=4"])
    assert (config.seed, config.mode, config.student.layers) == (4, "annotate", 2)


def test_a_config_files_relative_paths_are_read_from_its_folder(tmp_path, monkeypatch):
    folder, data, elsewhere = tmp_path / "configs", tmp_path / "data", tmp_path / "elsewhere"
    for directory in (folder, data, elsewhere, folder / "my-model"):
        directory.mkdir()
    (data / "pool.jsonl").write_text('{"question": "What is 2 + 2?"}\n')
    (data / "test.jsonl").write_text('{"question": "What is 2 + 3?", "answer": "5"}\n')
    (folder / "mine.toml").write_text(
        '[task]\nkind = "jsonl"\npath = "../data/pool.jsonl"\ntest_path = "../data/test.jsonl"'
        '\n[teacher]\nkind = "reference"\n[student]\nkind = "hf"\nmodel = "my-model"'
        '\n[scale]\naccelerate_config = "/etc/accelerate.yaml"\n')
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../configs/mine.toml"))
    assert Path(config.task.path).resolve() == (data / "pool.jsonl").resolve()
    assert Path(config.task.test_path).resolve() == (data / "test.jsonl").resolve()
    assert Path(config.student.model).resolve() == (folder / "my-model").resolve()
    assert config.scale.accelerate_config == "/etc/accelerate.yaml"  # absolute: as it is
    # an override is the command line's, read from the working directory
    (elsewhere / "here.jsonl").write_text('{"question": "What is 1 + 1?"}\n')
    assert load_config(Path("../configs/mine.toml"),
                       ["task.path=here.jsonl"]).task.path == "here.jsonl"
    (folder / "hub.toml").write_text('[student]\nkind = "hf"\nmodel = "org/name"\n')
    assert load_config(folder / "hub.toml").student.model == "org/name"  # a hub name
    monkeypatch.chdir(folder)  # the file in the working directory: values as written
    for name in (Path("mine.toml"), folder / "mine.toml"):
        config = load_config(name)
        assert (config.task.path, config.student.model) == ("../data/pool.jsonl", "my-model")


@pytest.mark.parametrize("override, message", [
    ("stratgy=random", "unknown key 'stratgy'; did you mean 'strategy'?"),
    ("student.sampels=3", "unknown key 'student.sampels'; did you mean 'student.samples'?"),
    ("student.zzz=3", "unknown key 'student.zzz' (known here: "),  # no close key: no guess
    ("studnt.samples=3", "unknown section 'studnt'"),
    ("seed=abc", "seed='abc' is not a valid int"),
    ("strategy=best", "strategy='best' is not one of"),
    ("alpha=1.5", "alpha=1.5 must be in [0, 1]"),
    ("budget_usd=inf", "budget_usd=inf must be a finite number"),
    ("budget_usd=0", "budget_usd=0.0 must be in (0, 1000000.0]"),
    ("budget_usd=1e308", "budget_usd=1e+308 must be in (0, 1000000.0]"),
    ("teacher.max_output_tokens=99999999999999999999",
     "teacher.max_output_tokens=99999999999999999999 is too large"),
    ("student.max_new_tokens=2000000", "student.max_new_tokens=2000000 must be in [1, "),
    ("seed=99999999999999999999", "seed=99999999999999999999 is too large"),
    ("teacher.timeout_s=1e300", "teacher.timeout_s=1e+300 must be in (0, 86400.0]"),
    ("task.families=nosuch", "task.families=['nosuch'] ('nosuch') is not one of arithmetic"),
    ("task.families=", "task.families names no family"),
    ("teacher=openai teacher.base_url=localhost:8000", "teacher.base_url='localhost:8000' is"),
    ("task.pool_size=-5", "task.pool_size=-5 must be in [0, 10000000]"),
    ("teacher.timeout_s=nan", "teacher.timeout_s=nan must be a finite number"),
    ("teacher.price_input_per_mtok=-2", "price_input_per_mtok=-2.0 must be in [0, 10000.0] or -1"),
    ("student.hidden_size=30", "student.hidden_size must be a multiple of student.heads"),
    ("hint=maybe", "hint='maybe' is not a valid bool"),
    ("budget_usd", "is not key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, override.split(" "))


def test_every_choice_and_range_is_on_its_field():
    from elad.config import choices
    from elad.tasks.synthetic import FAMILIES

    assert choices("task.families") == FAMILIES
    assert choices("strategy") and choices("student.kind") == ("tiny", "hf")
    assert choices("seed") == ()
    assert RANGES["budget_usd"].high == 1e6 and RANGES["teacher.max_output_tokens"].high


def _numeric_keys(config, prefix=""):
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            yield from _numeric_keys(value, f"{prefix}{field.name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{field.name}"


def test_every_numeric_setting_has_a_range():
    assert sorted(RANGES) == sorted(_numeric_keys(RunConfig()))


@pytest.mark.parametrize("key", sorted(RANGES))
def test_no_numeric_setting_takes_inf_nan_or_a_value_below_its_range(key):
    allowed = RANGES[key]
    default = load_config()
    for part in key.split("."):
        default = getattr(default, part)
    bad = ["inf", "-inf", "nan"] if isinstance(default, float) else ["1.5"]
    if allowed.low > -math.inf:  # just below the range (-1 is below the prices' range)
        bad.append(str(type(default)(allowed.low - (0 if allowed.low_open else 1.5))))
    if allowed.high < math.inf:  # just above it
        bad.append(str(type(default)(allowed.high + (0 if allowed.high_open else 1))))
    for value in bad:
        with pytest.raises(ConfigError, match=f"^(override: )?{re.escape(key)}[ =]"):
            load_config(None, [f"{key}={value}"])


def test_a_toml_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeffseed = 3\n".encode())
    assert load_config(path).seed == 3


def test_a_list_of_anything_but_names_is_refused_by_name(tmp_path):
    """Before, `report_to = [1]` in a file was a TypeError's stack trace, as was
    `task.labels=[1, 2]` on the command line (an AttributeError)."""
    path = tmp_path / "c.toml"
    path.write_text("report_to = [1]\n")
    with pytest.raises(ConfigError, match=re.escape("report_to=[1] is not a valid list")):
        load_config(path)
    with pytest.raises(ConfigError, match=re.escape("task.families='[\"arithmetic\", 2]' "
                                                    "is not a valid list")):
        load_config(None, ['task.families=["arithmetic", 2]'])


def test_a_bad_key_in_a_section_is_named_with_its_section(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[teacher]\nmodel = 5\n')
    with pytest.raises(ConfigError, match=r"c.toml: teacher.model=5 is not a valid str"):
        load_config(path)
    path.write_text('[teacher]\nmodel = "gpt-4o"\nbudget_usd = 3\n')  # meant top-level
    with pytest.raises(ConfigError, match=r"unknown key 'teacher.budget_usd' .* a key after "
                                          r"\[teacher\] is read as part of it"):
        load_config(path)
    path.write_text('[teacher]\nstructured_outpt = "json_object"\n')
    with pytest.raises(ConfigError, match="did you mean 'teacher.structured_output'"):
        load_config(path)


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seed = \n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(path)
    path.write_text('seed = "zero"\n')
    with pytest.raises(ConfigError, match="bad.toml: seed='zero' is not a valid int"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_json_round_trip():
    config = load_config(None, ["student.layers=1", "mode=annotate"])
    assert config_from_json(config.to_json()) == config
    assert config_from_json(RunConfig().to_json()) == RunConfig()


def test_settings_for_datasets_and_pretrained_students():
    config = load_config(None, ["task.kind=gsm8k", "teacher.kind=reference",
                                "student.kind=hf", "student.model=gemma-3-270m",
                                "student.lora_targets=q_proj,v_proj", "student.finetune=full"])
    assert config.student.lora_targets == ["q_proj", "v_proj"]
    assert config.student.finetune == "full"
    with pytest.raises(ConfigError, match="student.model is needed for student.kind=hf"):
        load_config(None, ["student.kind=hf"])
    with pytest.raises(ConfigError, match="student.finetune='qlora' is not one of"):
        load_config(None, ["student.finetune=qlora"])
    with pytest.raises(ConfigError, match="oracle knows only the synthetic task"):
        load_config(None, ["task.kind=gsm8k"])


def test_a_pretrained_student_is_refused_the_tiny_students_sizes_and_no_lora_target():
    """They did nothing (helper P, stop 59: `student.max_length=32` for a GPT-2 of 64
    positions was accepted, and the run then failed past them); an empty target list
    failed in peft with a traceback. A stored run that has them goes on."""
    hf = ["student.kind=hf", "student.model=x"]
    with pytest.raises(ConfigError, match=r"^student.max_length is the tiny student's "
                                          r"\(student.kind=tiny\); a pretrained model has "
                                          r"its own: leave it out$"):
        load_config(None, [*hf, "student.max_length=32"])
    with pytest.raises(ConfigError, match="^student.lora_targets names no module"):
        load_config(None, [*hf, "student.lora_targets="])
    assert load_config(None, [*hf, "student.lora_targets=", "student.finetune=full"])
    stored = load_config(None, hf)
    stored.student.hidden_size = 64  # as a run stored before this check holds it
    assert load_config(None, ["max_rounds=6"], base=stored).student.hidden_size == 64


def test_example_gemma_config_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "gsm8k-reference-gemma.toml"
    config = load_config(path)
    assert (config.task.kind, config.teacher.kind, config.student.model) == (
        "gsm8k", "reference", "gemma-3-270m")


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_every_key_has_a_type_a_default_and_help(capsys):
    from elad.cli import main
    from elad.config_help import keys, toml_value

    described = keys(RunConfig())
    defaults = _flat(RunConfig().to_dict())
    assert [k.name for k in described] == list(defaults)  # every key, none invented
    assert all(k.help.strip() and "\n" not in k.help for k in described)
    assert main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["key", "type", "default", "help"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == list(defaults)
    for key in described:
        _, kind, rest = rows[key.name].split(None, 2)
        assert kind == key.type and rest.startswith(toml_value(key.value))
        assert key.help in rest
    assert "one of: random, entropy, least-confidence, intra, elad" in rows["strategy"]
    assert "list[str]" in rows["task.families"] and '"coin_flip"' in rows["task.families"]


def test_init_writes_a_commented_toml_that_loads_back_to_the_defaults(tmp_path, capsys):
    import tomllib

    from elad.cli import main

    assert main(["config", "--init"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "init.toml"
    path.write_text(text)
    assert _flat(tomllib.loads(text)) == _flat(RunConfig().to_dict())
    assert load_config(path) == load_config(None, [])  # warmup=auto resolved alike
    assert "# K: explanations sampled per candidate question; int\nsamples = 4" in text
    assert "\n[teacher]\n# The model paid to annotate and revise" in text


def test_effective_prints_the_merged_config(tmp_path, capsys):
    from elad.cli import main

    path = tmp_path / "run.toml"
    path.write_text('mode = "annotate"\n[student]\nsamples = 8\n')
    assert main(["config", "--effective", str(path), "seed=3", "teacher=oracle"]) == 0
    text = capsys.readouterr().out
    merged = tmp_path / "merged.toml"
    merged.write_text(text)
    expected = load_config(path, ["seed=3"])
    assert load_config(merged) == expected and expected != RunConfig()
    assert "; int; default 0\nseed = 3" in text and "; default 4\nsamples = 8" in text
    assert "default" not in text.split("alpha = ")[0].rsplit("\n\n", 1)[-1]

    assert main(["config", "seed=3"]) == 2
    assert "needs --effective" in capsys.readouterr().err
    assert main(["config", "--effective", "stratgy=x"]) == 2
    assert "unknown key 'stratgy'" in capsys.readouterr().err


def test_run_help_points_to_elad_config(capsys):
    from elad.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "`elad config`" in out and "`elad config --init`" in out
    assert "`elad config --effective [CONFIG] [key=value ...]`" in out


def test_a_base_url_with_a_trailing_slash_is_the_same_teacher():
    """The cache key strips the slash; a resumed run given ".../v1/" for ".../v1" was
    refused as a changed teacher."""
    from elad.rundir import differences

    slash = load_config(None, ["teacher=openai", "teacher.base_url=http://127.0.0.1:8000/v1/"])
    plain = load_config(None, ["teacher=openai", "teacher.base_url=http://127.0.0.1:8000/v1"])
    assert slash.teacher.base_url == "http://127.0.0.1:8000/v1"
    assert differences(slash, plain) == []
    assert config_from_json(slash.to_json()).teacher.base_url == "http://127.0.0.1:8000/v1"
