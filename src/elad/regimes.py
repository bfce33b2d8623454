"""The regimes `elad bench` measures in: the same comparison with a student that starts
from scratch (cold) and with one that already knows the format and the first steps
(warm, the offline stand-in for a pretrained model, where ELAD is meant to work).

A regime is a name, one line saying what it is, and the key=value overrides it applies on
top of the user's config: changing a regime is changing one line of REGIMES.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from elad.bench_names import SIZES
from elad.config import ConfigError, RunConfig, defaults_for, load_config
from elad.config_checks import can_warm, resolved_warmup


@dataclass(frozen=True)
class Regime:
    name: str
    description: str
    overrides: dict[str, str]


REGIMES = {regime.name: regime for regime in (
    Regime("cold", "the tiny student trained from scratch on the target tasks",
           {"student.warmup": "none"}),
    Regime("warm", "the tiny student first trained on the synthetic tasks' 1-3 step "
           "chains and the first 3 steps of longer ones at no teacher cost, rehearsing "
           "them as it learns (a pretrained model's stand-in; the offline default)",
           {"student.warmup": "curriculum"}),
)}
DEFAULT_REGIMES = ("cold", "warm")


def description(name: str, config: RunConfig) -> str:
    """What regime `name` is, for `config`'s student: a pretrained one is no tiny student
    trained from scratch, whatever the regime's name."""
    if config.student.kind == "tiny":
        return REGIMES[name].description
    return f"the config's student ({config.student.model}), with no curriculum"


def regime_names(names: Iterable[str] | None, config: RunConfig) -> tuple[str, ...]:
    """The regimes named (in order, once each), or DEFAULT_REGIMES that can run on
    `config` when none is (the warm student's curriculum is the synthetic tasks', for
    the tiny student: your own data benches cold alone); an unknown name is a
    ConfigError."""
    if not names:
        warm = can_warm(config.student, config.task)
        return tuple(name for name in DEFAULT_REGIMES if warm or name != "warm")
    unknown = [n for n in names if n not in REGIMES]
    if unknown:
        raise ConfigError(f"--regimes: {', '.join(unknown)} is not a regime (known: "
                          f"{', '.join(REGIMES)})")
    return tuple(dict.fromkeys(names))


def value_of(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def set_by_user(config: RunConfig, key: str, given: set[str], default: RunConfig) -> bool:
    """Whether the user chose `key`'s value: named in `given` (the command line's keys,
    "student.kind" as "student") or not `default`'s."""
    named = key.removesuffix(".kind") in given
    return named or value_of(config, key) != value_of(default, key)


def regime_config(config: RunConfig, name: str, given: Iterable[str] = (),
                  strict: bool = True) -> RunConfig:
    """`config` with regime `name`'s overrides applied. The user set a key the regime
    sets when it is in `given` (the keys named on the command line) or its value is not
    the default; if the user's value is not the regime's, that is a ConfigError when
    `strict` (a regime must be what it says), else the user's value is kept."""
    regime = REGIMES[name]
    items = [f"{key}={value}" for key, value in regime.overrides.items()]
    try:
        applied = load_config(None, items, base=config)  # the regime's values, converted
    except ConfigError as error:
        others = [n for n in REGIMES if n != name]
        raise ConfigError(f"the {name} regime ({' '.join(items)}): {error}; bench the "
                          f"others alone (--regimes {','.join(others)})") from None
    given = {key.removesuffix(".kind") for key in given}
    default = defaults_for(config.student.kind)
    default.student.warmup = resolved_warmup(default.student, config.task)
    kept = set()
    for key in regime.overrides:
        mine, theirs = value_of(config, key), value_of(applied, key)
        if mine == theirs or not set_by_user(config, key, given, default):
            continue
        if strict:
            raise ConfigError(f"the {name} regime sets {key}={theirs!r} but the config says "
                              f"{key}={mine!r}: drop it, or bench one regime (--regimes "
                              f"{name})")
        kept.add(key)
    if not kept:
        return applied
    return load_config(None, [i for i in items if i.split("=", 1)[0] not in kept],
                       base=config)


def bench_sized(config: RunConfig, given: Iterable[str] = ()) -> RunConfig:
    """`config` with the bench's SIZES for every key the user left alone: not named in
    `given` (the command line's keys) and at its default. A dataset's test set is the
    user's: task keys apply to the synthetic task only."""
    default, given = defaults_for(config.student.kind), set(given)
    items = [f"{key}={value}" for key, value in SIZES.items()
             if not set_by_user(config, key, given, default)
             and (config.task.kind == "synthetic" or not key.startswith("task."))]
    return load_config(None, items, base=config) if items else config
