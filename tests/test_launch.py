"""A round's training as an `accelerate launch` job with 2 CPU processes (gloo), on a
tiny pretrained-style Llama with a LoRA adapter: the teacher (a real OpenAI-compatible
server on 127.0.0.1) is asked once per question, not once per process, the checkpoint
loads, the loss went down, and the student equals the one-process one."""

import pytest
import torch

from elad.answers import format_explanation
from elad.config import load_config
from elad.loop import run
from elad.seeding import phase_seed
from elad.fakes.oracle_server import serve
from elad.store import RunStore
from elad.student import load_student, new_student

from conftest import TINY, TINY_HF


def completion_nll(student, pairs) -> float:
    """Mean negative log-likelihood of the explanations' tokens given their questions."""
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, prompt_length in student.training_examples(pairs):
            logits = student.model(input_ids=torch.tensor([ids])).logits[0, :-1]
            logp = torch.log_softmax(logits.float(), -1)
            targets = torch.tensor(ids[1:])
            picked = logp[torch.arange(len(targets)), targets][prompt_length - 1:]
            total, count = total - float(picked.sum()), count + len(picked)
    return total / count


def test_training_under_accelerate_with_two_processes(tmp_path):
    from test_openai_teacher import openai_overrides
    from test_pretrained import build

    base = build(tmp_path / "llama", "llama")
    with serve() as (server, url):
        config = load_config(None, [
            *TINY_HF, *openai_overrides(url), "max_rounds=0", "student.kind=hf",
            f"student.model={base}", "student.lora_rank=4", "student.lora_dropout=0",
            "student.seed_train_steps=12", "student.train_batch_size=8",
            "student.learning_rate=0.02", "scale.train_processes=2"])
        records, teacher = run(config, tmp_path / "run")
    # the teacher was asked once per seed question, from this process alone
    assert teacher.new_calls == records[0].teacher_calls == config.seed_size
    assert len(server.ledger) == config.seed_size
    assert len({a.prompt_hash for a in server.ledger}) == config.seed_size

    checkpoint = tmp_path / "run" / "checkpoints" / "round-0"
    assert (checkpoint / "adapter_model.safetensors").is_file()
    launched = load_student(config.student, checkpoint)
    store = RunStore(tmp_path / "run" / "run.sqlite")
    pairs = [(t.question, format_explanation(t.steps, t.answer)) for t in store.targets()]
    store.close()
    # the same round in one process: the same start, targets, steps and seed
    alone = new_student(config.student, [], phase_seed(config, 0, "init"))
    before = completion_nll(alone, pairs)
    alone.train(pairs, 12, 0.02, phase_seed(config, 0, "train"), batch_size=8)
    after = completion_nll(launched, pairs)
    print(f"completion NLL: {before:.3f} before, {after:.3f} after 12 steps on 2 processes")
    assert after < before - 0.1  # the loss went down
    assert completion_nll(alone, pairs) == pytest.approx(after, rel=1e-4)
    items = [(q, text.splitlines()[:1], "3") for q, text in pairs[:6]]
    assert launched.answer_probabilities(items) == pytest.approx(
        alone.answer_probabilities(items), rel=1e-3)


def test_a_failed_training_job_is_one_line_and_resumable(tmp_path, capsys):
    from elad.cli import main

    bad = tmp_path / "accelerate.yaml"
    bad.write_text("compute_environment: NOWHERE\n")  # accelerate refuses it
    run_dir = tmp_path / "run"
    options = [*TINY, "max_rounds=0", f"scale.accelerate_config={bad}"]
    assert main(["-q", "run", *options, "--run-dir", str(run_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("elad: error: round 0: the training job failed") and \
        "the same command resumes" in error and "\n" not in error
    assert not (run_dir / "checkpoints" / "round-0").exists()
    store = RunStore(run_dir / "run.sqlite")
    assert len(store.targets()) == 16  # the teacher's work is kept
    store.close()
    # the same run without the bad file (the stored config keeps it unless cleared): no
    # teacher call is made again
    assert main(["-q", "run", *TINY, "max_rounds=0", "scale.accelerate_config=",
                 "--run-dir", str(run_dir)]) == 0
    assert "teacher calls made now: 0" in capsys.readouterr().out
