"""Student profiles: the defaults that fit each kind of student.

The defaults declared with each setting (config_sections.py) are the tiny student's: a
model trained from scratch on a CPU, which needs a high learning rate, many passes and
short explanations. A pretrained causal LM (`student.kind=hf`) fine-tuned with LoRA wants
the opposite: a low learning rate, a few passes over its targets, and room for a whole
explanation. A config that names a kind gets that kind's values here for every key it
does not set itself (config.load_config); a run directory's stored config already holds
them, so a resumed run keeps the values it started with.
"""

from __future__ import annotations

from typing import Any

# student.kind -> {student key: its default for that kind}; a key left out keeps the
# default declared with the setting (the tiny student's)
PROFILES: dict[str, dict[str, Any]] = {
    "tiny": {},
    "hf": {
        "learning_rate": 2e-4,  # LoRA on a pretrained model (3e-3 would wreck it)
        "max_new_tokens": 256,  # a whole step-by-step explanation
        "temperature": 0.7,  # K explanations a pretrained model still means
        "train_batch_size": 16,
        "train_epochs": 3.0,  # a few passes over the targets a round ...
        "train_steps": 10,  # ... and at least this many steps
        "seed_train_steps": 20,  # about 3 passes over the 100 seed targets
        "batch_size": 64,  # sequences of up to 256 new tokens per generation batch
    },
}


def profile(kind: str) -> dict[str, Any]:
    """The student keys whose defaults differ for a student of `kind`."""
    return PROFILES.get(kind, {})


def profile_note(name: str) -> str:
    """What the profiles say about the student key `name`, for its help line ('' when
    every kind keeps the declared default)."""
    values = [f"{kind}: {value!r}" for kind, table in PROFILES.items()
              for key, value in table.items() if key == name]
    return f"default by student.kind, {', '.join(values)}" if values else ""
