"""Gemma 3 270M from the PyPI package as the student: loading, and one round of the
example config on a CPU. Slow (minutes; the first use converts the GGUF file, about two
minutes more): `python -m pytest -m slow tests/test_gemma.py -s`. Needs '.[gemma]'."""

import time
from pathlib import Path

import pytest

from elad.config import load_config
from elad.rundir import RunDir
from elad.student import load_student, new_student
from elad.student.pretrained import GEMMA_PRESET, PROBE, PROBE_IDS
from elad.tasks import load_task

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "gsm8k-reference-gemma.toml"


@pytest.mark.slow
def test_the_preset_loads_offline_with_its_own_tokens():
    config = load_config(CONFIG)
    started = time.perf_counter()
    student = new_student(config.student, [], seed=0)
    print(f"\n{GEMMA_PRESET} loaded in {time.perf_counter() - started:.1f}s")
    assert student.model.config.model_type == "gemma3_text"
    assert "sliding_attention" in student.model.config.layer_types
    assert student.format.prefix == (2,)  # <bos>
    # Gemma 3's own pieces ("Natal", "ia", " sold", ...): transformers 5.17 converted
    # the GGUF file's tokenizer into one that splits words into letters
    assert student.tokenizer.encode(PROBE, add_special_tokens=False).ids == PROBE_IDS
    assert 1 in student.format.stops  # <eos>
    assert student.tokenizer.decode(student.prompt_ids("What is 2 + 3?")) == (
        "Q: What is 2 + 3?\nA:\n")
    trainable = [n for n, p in student.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


@pytest.mark.slow
def test_one_round_of_the_example_config(tmp_path, shared_data, capsys):
    from elad.cli import main

    overrides = [f"task.path={shared_data / 'gsm8k'}"]
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    assert main(["-q", "run", str(CONFIG), *overrides, "--run-dir", str(run_dir)]) == 0
    wall = time.perf_counter() - started
    out = capsys.readouterr().out
    print(out)
    print(f"one round of {CONFIG.name}: {wall / 60:.1f} minutes")
    assert "stopped: max rounds" in out

    # the LoRA adapter changes the student's outputs: a fresh adapter is the base model
    config = load_config(CONFIG, overrides)
    test = load_task(config.task, config.seed).test
    base = new_student(config.student, [], seed=0)
    trained = load_student(config.student, RunDir.open(run_dir).checkpoint(1))
    items = [(e.question, [], e.answer) for e in test]
    before, after = base.answer_probabilities(items), trained.answer_probabilities(items)
    print("p(right answer | question, cue), base -> trained:",
          [f"{b:.2e} -> {a:.2e}" for b, a in zip(before, after)])
    assert max(abs(a / b - 1) for a, b in zip(after, before)) > 0.01
    base_text = base.generate([e.question for e in test])
    trained_text = trained.generate([e.question for e in test])
    print("greedy, base:", [t[0][0][:80] for t in base_text])
    print("greedy, trained:", [t[0][0][:80] for t in trained_text])
    assert base_text != trained_text
