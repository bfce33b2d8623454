import dataclasses
import math
import re

import pytest

from elad.config import RANGES, ConfigError, RunConfig, config_from_json, load_config


def test_defaults_validate():
    assert load_config().strategy == "elad"


def test_overrides_convert_types_and_set_sections():
    config = load_config(None, ["strategy=random", "student.samples=2", "alpha=0.25",
                                "hint=false", "task.families=coin_flip,largest",
                                "teacher=oracle"])
    assert config.strategy == "random" and config.student.samples == 2
    assert config.alpha == 0.25 and config.hint is False
    assert config.task.families == ["coin_flip", "largest"]


def test_toml_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = 3\nmode = "annotate"\n[student]\nlayers = 2\n')
    config = load_config(path, ["seed=4"])
    assert (config.seed, config.mode, config.student.layers) == (4, "annotate", 2)


@pytest.mark.parametrize("override, message", [
    ("stratgy=random", "unknown key 'stratgy'"),
    ("student.sampels=3", "unknown key 'student.sampels'"),
    ("studnt.samples=3", "unknown section 'studnt'"),
    ("seed=abc", "seed='abc' is not a valid int"),
    ("strategy=best", "strategy='best' is not one of"),
    ("alpha=1.5", "alpha=1.5 must be in [0, 1]"),
    ("budget_usd=inf", "budget_usd=inf must be a finite number"),
    ("budget_usd=0", "budget_usd=0.0 must be > 0"),
    ("task.pool_size=-5", "task.pool_size=-5 must be >= 1"),
    ("teacher.timeout_s=nan", "teacher.timeout_s=nan must be a finite number"),
    ("teacher.price_input_per_mtok=-2", "price_input_per_mtok=-2.0 must be >= 0 or -1"),
    ("student.hidden_size=30", "student.hidden_size must be a multiple of student.heads"),
    ("hint=maybe", "hint='maybe' is not a valid bool"),
    ("budget_usd", "is not key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [override])


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


def test_example_gemma_config_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "gsm8k-reference-gemma.toml"
    config = load_config(path)
    assert (config.task.kind, config.teacher.kind, config.student.model) == (
        "gsm8k", "reference", "gemma-3-270m")
