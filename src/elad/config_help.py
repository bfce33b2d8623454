"""`elad config`: every setting with its type, default and one line of help (read from
the config dataclasses' field metadata, config.setting), and a config written as a
commented TOML file that `elad run` loads back.

    elad config                                    every key: type, default, help
    elad config --init > run.toml                  every default, commented
    elad config --effective run.toml seed=3        what a run with these would use
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from elad.config import RunConfig, defaults_for
from elad.profiles import profile_note


@dataclass(frozen=True)
class Key:
    """One setting: its dotted name, type name, value in a config and help line."""

    name: str
    type: str
    value: Any
    help: str
    choices: tuple = ()  # the values it may take (from the field's metadata), () = any

    @property
    def section(self) -> str:
        return self.name.rpartition(".")[0]


def keys(config: RunConfig) -> list[Key]:
    """Every setting of `config`, top-level keys first, then each section's."""
    top, sections = [], []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            sections += [Key(f"{field.name}.{f.name}", str(f.type), getattr(value, f.name),
                             f.metadata["help"], f.metadata.get("choices", ()))
                         for f in dataclasses.fields(value)]
        else:
            top.append(Key(field.name, str(field.type), value, field.metadata["help"],
                           field.metadata.get("choices", ())))
    return top + sections


def section_help(section: str) -> str:
    """The first line of a section's dataclass docstring."""
    kind = type(getattr(RunConfig(), section))
    return (kind.__doc__ or "").strip().splitlines()[0]


def help_line(key: Key) -> str:
    shown = ", ".join(repr(c) if c == "" else c for c in key.choices)
    note = profile_note(key.name.removeprefix("student.")) if key.section == "student" else ""
    return (key.help + (f" (one of: {shown})" if key.choices else "")
            + (f" ({note})" if note else ""))


def format_keys(config: RunConfig | None = None) -> str:
    """A table of every key: name, type, default, help."""
    rows = [("key", "type", "default", "help")]
    rows += [(k.name, k.type, toml_value(k.value), help_line(k))
             for k in keys(config or RunConfig())]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]
                     for r in rows)


def toml_value(value: Any) -> str:
    """`value` as a TOML literal (JSON's string escapes are TOML's too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


HEADER = ["# An elad run config (`elad run THIS_FILE`). Every key is here with its",
          "# value; a key left out keeps its default. `elad config` lists them all."]


def to_toml(config: RunConfig, note_defaults: bool = False, only: set[str] | None = None,
            header: list[str] = HEADER) -> str:
    """`config` as a TOML file (its keys named in `only`, if given), each key under a
    comment with its help and type; with `note_defaults`, a key whose value differs
    from the default says the default."""
    defaults = {k.name: k.value for k in keys(defaults_for(config.student.kind))}
    lines = list(header)
    section = None
    for key in keys(config):
        if only is not None and key.name not in only:
            continue
        if key.section != section:
            section = key.section
            lines += ["", f"[{section}]", f"# {section_help(section)}"] if section else []
        changed = note_defaults and key.value != defaults[key.name]
        lines += ["", f"# {help_line(key)}; {key.type}"
                      + (f"; default {toml_value(defaults[key.name])}" if changed else ""),
                  f"{key.name.rpartition('.')[2]} = {toml_value(key.value)}"]
    return "\n".join(lines) + "\n"
