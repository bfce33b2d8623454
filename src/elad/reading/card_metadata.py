"""The YAML front matter of an exported student's model card (model_card.py): what the
Hugging Face hub reads to link and filter models. `base_model` is the pretrained
student's hub name (none for the tiny student, trained from scratch, or a local path);
`license` is the base model's own, read from its model card where a copy is on this
machine (never guessed: absent otherwise); `datasets` is the hub dataset the questions
came from (none for a local file or elad's synthetic tasks); `teacher` says which model
taught it. Never imports torch and never goes to the network.
"""

from __future__ import annotations

import json
from pathlib import Path

from elad.config import RunConfig


def hub_name(model: str) -> str | None:
    """`model` if it names a hub model ("owner/name" and no folder of that name here),
    else None: a local path or a preset is no hub name."""
    if model.count("/") != 1 or Path(model).expanduser().exists():
        return None
    return model


def base_card(model: str) -> Path | None:
    """The base model's own model card on this machine: README.md of a local folder, or
    the copy in the Hugging Face cache (None when there is none)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        card = folder / "README.md"
        return card if card.is_file() else None
    if hub_name(model) is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "README.md")
    return Path(found) if isinstance(found, str) else None


def base_license(model: str) -> dict[str, str]:
    """The base model's license as its card states it (`license`, and `license_name`
    and `license_link` for "other"); {} when no card with a license is here."""
    card = base_card(model)
    if card is None:
        return {}
    from huggingface_hub.repocard import metadata_load
    from yaml import YAMLError

    try:
        meta = metadata_load(card) or {}
    except (OSError, ValueError, YAMLError):  # unreadable: a card without a license
        return {}
    if not meta.get("license"):
        return {}
    return {key: str(meta[key]) for key in ("license", "license_name", "license_link")
            if meta.get(key)}


def teacher_meta(config: RunConfig) -> dict[str, str]:
    """The teacher's kind (openai: a real LLM; oracle, reference: no LLM, priced as the
    model) and model."""
    return {"kind": config.teacher.kind, "model": config.teacher.model}


def quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string


def front_matter(config: RunConfig, adapter_only: bool) -> list[str]:
    """The card's metadata block, "---" to "---"."""
    student = config.student
    base = hub_name(student.model) if student.kind == "hf" else None
    lines = ["---", "library_name: " + ("peft" if adapter_only else "transformers"),
             "pipeline_tag: text-generation"]
    if base:
        lines.append(f"base_model: {quoted(base)}")
    if student.kind == "hf":
        lines += [f"{key}: {quoted(value)}" for key, value in
                  base_license(student.model).items()]
    if config.task.hub:  # a local file is no hub id (the card's text names it)
        lines += ["datasets:", f"- {quoted(config.task.hub)}"]
    lines += ["tags:", "- elad", "- distillation", "- chain-of-thought",
              "teacher:", *(f"  {key}: {quoted(value)}"
                            for key, value in teacher_meta(config).items()),
              "---"]
    return lines
