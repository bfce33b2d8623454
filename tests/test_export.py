"""What a run leaves for others, on a real tiny run (oracle teacher, tiny student):
`elad export-data` (TRL's dataset formats, which TRL's SFTTrainer trains on, token for
token as elad trained the student) and `elad export` (a model folder with its model
card, which plain transformers uses with the card's prompt and answers as elad's own
evaluation does)."""

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from datasets import load_from_disk

from elad.answers import format_explanation, parse_explanation, prompt_text
from elad.cli import main
from elad.config import load_config
from elad.explain import explain
from elad.rundir import RunDir
from elad.student import load_student
from elad.tasks import answer_type

# Two families with short explanations, trained long enough that the student writes the
# format and gets some test questions right; a revise round, so rows of both operations.
RUN = ["task.families=coin_flip,largest", "task.pool_size=100", "task.test_size=16",
       "seed_size=24", "round_size=6", "candidates=8", "max_rounds=1", "budget_usd=0.5",
       "mode=revise",
       "student.hidden_size=32", "student.layers=2", "student.heads=2",
       "student.samples=2", "student.max_new_tokens=48", "student.train_steps=10",
       "student.seed_train_steps=80", "student.learning_rate=0.01",
       "student.batch_size=32",
       "student.warmup=none"]  # from scratch: round 0 annotates, round 1 revises


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The run, its data (with the teacher replies) and its student, exported."""
    root = tmp_path_factory.mktemp("export")
    run_dir, data, model = root / "run", root / "data", root / "model"
    assert main(["-q", "run", *RUN, "--run-dir", str(run_dir)]) == 0
    assert main(["-q", "export-data", str(run_dir), "--out", str(data),
                 "--teacher-replies"]) == 0
    assert main(["-q", "export", str(run_dir), "--out", str(model)]) == 0
    return run_dir, data, model


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_data_rows(exported):
    run_dir, data, _ = exported
    with RunDir.open(run_dir) as run:
        targets = {t.example_id: t for t in run.store.targets()}
        calls = run.store.teacher_calls()
        spent = run.store.spent_usd()
    plain = read_jsonl(data / "prompt_completion.jsonl")
    chat = read_jsonl(data / "messages.jsonl")
    replies = read_jsonl(data / "teacher_replies.jsonl")
    assert len(plain) == len(chat) == len(targets) > 0 and len(replies) == len(calls)
    for row, conversation in zip(plain, chat):
        target = targets[row["id"]]
        assert row["prompt"] == prompt_text(target.question)
        assert row["completion"] == format_explanation(target.steps, target.answer)
        assert conversation["messages"] == [
            {"role": "user", "content": target.question},
            {"role": "assistant", "content": row["completion"]}]
        assert row["no_wrong_step"] == target.no_wrong_step and row["round"] == target.round
        assert row["operation"] == ("annotate" if target.round == 0 else "revise")
        assert row["cost_usd"] > 0
        assert (row["teacher"], row["teacher_model"]) == ("oracle", "gpt-4o")
        assert {k: v for k, v in conversation.items() if k != "messages"} == {
            k: v for k, v in row.items() if k not in ("prompt", "completion")}
    assert {r["operation"] for r in plain} == {"annotate", "revise"}
    assert sum(r["cost_usd"] for r in replies) == pytest.approx(spent)
    for row in replies:
        reply = json.loads(row["completion"])
        keys = {"steps", "answer"} if row["operation"] == "annotate" else {
            "first_error", "continuation", "answer"}
        assert set(reply) == keys and row["ok"] and row["question"] in row["prompt"]
        assert ("Student's steps:" in row["prompt"]) == (row["operation"] == "revise")
    # the datasets folders hold the same rows
    for name, rows in (("prompt_completion", plain), ("messages", chat),
                       ("teacher_replies", replies)):
        assert load_from_disk(str(data / name))["train"].to_list() == rows


def sft_config(output_dir, assistant_only_loss=False):
    from trl import SFTConfig

    return SFTConfig(output_dir=str(output_dir), max_steps=3, per_device_train_batch_size=4,
                     learning_rate=1e-3, logging_steps=1, save_strategy="no",
                     report_to="none", bf16=False, use_cpu=True,
                     gradient_checkpointing=False, disable_tqdm=True, max_length=256,
                     assistant_only_loss=assistant_only_loss)


def test_trl_sft_trainer_trains_on_the_exported_data(exported, tmp_path):
    """TRL tokenizes both formats into exactly elad's training sequences (prompt after
    bos, explanation, end token), with the loss on the explanation and end token only:
    prompt-completion by its completion, messages by TRL's assistant-only loss on the
    exported chat template's generation markers; and a few SFTTrainer steps change
    every weight of the exported student."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    run_dir, data, model_dir = exported
    with RunDir.open(run_dir) as run:
        student = load_student(run.config.student, run.checkpoint(run.trained_round()))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for name in ("prompt_completion", "messages"):
        dataset = load_from_disk(str(data / name))["train"]
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        args = sft_config(tmp_path / name, assistant_only_loss=name == "messages")
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                             processing_class=tokenizer)
        for row, prepared in zip(dataset, trainer.train_dataset):
            question = row["question"]
            completion = (row["completion"] if name == "prompt_completion"
                          else row["messages"][1]["content"])
            prompt = student.prompt_ids(question)
            explained = [*student.encode(completion), student.eos_id]
            assert prepared["input_ids"] == [*prompt, *explained]
            # the loss covers the explanation and the end token only
            assert prepared["labels"] == [-100] * len(prompt) + explained
            if name == "messages":  # the template's own mask: the assistant's tokens
                mask = tokenizer.apply_chat_template(
                    row["messages"], return_assistant_tokens_mask=True,
                    return_dict=True)["assistant_masks"]
                assert mask == [0] * len(prompt) + [1] * len(explained)
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
        changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
        assert changed == list(before)


def test_assistant_only_loss_needs_the_exported_templates_markers(exported, tmp_path):
    """The chat template written next to the data is the exported tokenizer's; without
    its generation markers TRL refuses assistant-only loss on the messages export."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    _, data, model_dir = exported
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert (data / "chat_template.jinja").read_text() == tokenizer.chat_template
    unmarked = re.sub(r"\{%-? *(end)?generation *-?%\}", "", tokenizer.chat_template)
    assert unmarked != tokenizer.chat_template
    tokenizer.chat_template = unmarked
    with pytest.raises(ValueError, match="generation"):
        SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                   args=sft_config(tmp_path, assistant_only_loss=True),
                   train_dataset=load_from_disk(str(data / "messages"))["train"],
                   processing_class=tokenizer)


def test_model_card_metadata_and_target_counts(exported):
    """The card's front matter names the data and the teacher (no base model or
    license: the tiny student is trained from scratch), and its prose counts the
    annotations (the seed round, in mode=revise) and revisions as the store has them."""
    run_dir, _, model_dir = exported
    card = (model_dir / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "transformers" and "elad" in meta["tags"]
    assert "datasets" not in meta  # elad's synthetic tasks are no hub dataset
    assert meta["teacher"] == {"kind": "oracle", "model": "gpt-4o"}
    assert "base_model" not in meta and "license" not in meta
    with RunDir.open(run_dir) as run:
        targets = run.store.targets()
        calls = run.store.teacher_calls()
    seed = sum(t.round == 0 for t in targets)
    confirmed = sum(t.no_wrong_step for t in targets)
    assert 0 < seed < len(targets)
    assert (f"{len(targets)} training targets up to round 1: {seed} annotations "
            f"(the teacher wrote the whole explanation) and {len(targets) - seed} "
            "revisions" in card)
    assert f"{confirmed} of them kept as they were: no wrong step found" in card
    assert f"from {len(calls)} teacher calls" in card
    assert "assistant_only_loss=True" in card and "{% generation" in card


# Runs in a fresh interpreter that never imports elad: the card's prompt, formatted for
# one question, through plain transformers (the tokenizer, its chat template, pipeline).
PLAIN_TRANSFORMERS = r"""
import json, re, sys
from pathlib import Path
from transformers import AutoTokenizer, pipeline

folder, question = sys.argv[1], sys.argv[2]
card = (Path(folder) / "README.md").read_text()
template = re.search(r"```text\n(.*?)```", card, re.DOTALL).group(1)
prompt = template.replace("{question}", question)
tokenizer = AutoTokenizer.from_pretrained(folder)
generate = pipeline("text-generation", model=folder)
messages = [{"role": "user", "content": question}]
text = prompt.removeprefix(tokenizer.bos_token)  # the tokenizer adds it, as the card says
result = {
    "template": template,
    "chat_prompt": tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                 tokenize=False),
    "ids": tokenizer(text).input_ids,
    "chat_ids": tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                              return_dict=True)["input_ids"],
    "from_text": generate(text, return_full_text=False)[0]["generated_text"],
    "from_chat": generate(messages)[0]["generated_text"][-1]["content"],
    "elad_imported": any(name.split(".")[0] == "elad" for name in sys.modules),
}
print(json.dumps(result))
"""


def test_model_card_prompt_gives_elads_answer_with_plain_transformers(exported):
    run_dir, _, model_dir = exported
    card = (model_dir / "README.md").read_text()
    with RunDir.open(run_dir) as run:
        config, records = run.config, run.store.rounds()
        spent = run.store.spent_usd()
        student = load_student(config.student, run.checkpoint(run.trained_round()))
        test = run.store.examples("test")
    # what it was distilled from, on what, for how much, how well, in what format
    assert "elad's exact oracle teacher" in card and "`gpt-4o`" in card
    assert "coin_flip, largest" in card and f"${spent:.4f}" in card
    assert "| round | targets | teacher $ | test accuracy | coin_flip | largest |" in card
    for r in records:
        assert re.search(rf"\| {r.round}( \(this model\))? \| {r.n_labeled} \| "
                         rf"{r.cost_usd:.4f} \| {r.test_accuracy:.3f} \| "
                         rf"{r.test_accuracy_by_task['coin_flip']:.3f} \| ", card)
    assert "```text\n<s>Q: {question}\nA:\n```" in card
    # a test question elad's own evaluation answers right
    greedy = explain(student, test, answer_type, k=1, temperature=0.0, seed=0)
    right = [e for e in test if greedy[e.id][0].answer == e.answer]
    assert right, "the student answers no test question right"
    question, gold = right[0].question, right[0].answer
    expected = student.generate([question])[0][0][0]
    assert parse_explanation(expected, answer_type(right[0])).answer == gold

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", PLAIN_TRANSFORMERS, str(model_dir),
                           question], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert not seen["elad_imported"]
    assert seen["chat_prompt"] == "<s>" + prompt_text(question)
    assert seen["ids"] == seen["chat_ids"] == student.prompt_ids(question)
    assert seen["from_text"] == seen["from_chat"] == expected
    assert parse_explanation(seen["from_chat"], answer_type(right[0])).answer == gold


def test_push_to_hub_errors_are_one_line_and_keep_the_files(exported, tmp_path,
                                                            monkeypatch, capsys):
    run_dir, _, _ = exported
    out = tmp_path / "data"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # no network here: the push must fail
    done = subprocess.run([sys.executable, "-m", "elad.cli", "-q", "export-data",
                           str(run_dir), "--out", str(out), "--push-to-hub",
                           "me/elad-data"], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("elad: error: pushing prompt_completion to the hub dataset "
                            "me/elad-data failed") and "files in the output folder" in error
    assert "Traceback" not in done.stderr
    assert (out / "prompt_completion.jsonl").is_file() and (out / "messages").is_dir()

    import elad.reading.export_data

    monkeypatch.setattr(elad.reading.export_data, "has_datasets", lambda: False)
    assert main(["export-data", str(run_dir), "--out", str(tmp_path / "none"),
                 "--push-to-hub", "me/elad-data"]) == 2
    error = capsys.readouterr().err
    assert "needs the datasets package: pip install 'elad[export]'" in error
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("warmup, start", [
    ("curriculum", "built from a config and first trained on the synthetic tasks' short "
                   "chains at no teacher cost (the warm curriculum), then on what the run "
                   "bought"),
    ("none", "built from a config and trained from scratch")])
def test_the_model_card_says_whether_the_tiny_student_was_warmed(warmup, start):
    from elad.reading.model_card import student_text
    config = load_config(None, [f"student.warmup={warmup}"])
    assert start in student_text(config, adapter_only=False)


def test_the_model_card_counts_what_a_stopped_run_may_have_paid(exported, tmp_path):
    """A request sent before a kill whose reply never came is held at its worst case in
    the ledger; the card's teacher cost said only what the calls were billed, below
    what the teacher billed (a helper's kill -9: $0.0021 on the card, $0.0025 billed)."""
    run_dir = tmp_path / "run"
    shutil.copytree(exported[0], run_dir)
    with RunDir.open(run_dir) as run:
        run.store.send_ahead(None, "never-replied", 1, "q-lost", 0.0042)
        spent = run.store.spent_usd()
    assert main(["-q", "export", str(run_dir), "--out", str(tmp_path / "model")]) == 0
    card = (tmp_path / "model" / "README.md").read_text()
    assert (" The run also holds $0.0042 for requests sent whose replies it never received "
            "(a stopped run, or a batch not collected), at their worst case: the teacher "
            f"may have billed them; the budget has paid ${spent:.4f} in all.") in card
    assert "The run also holds" not in (exported[2] / "README.md").read_text()



def test_the_model_card_names_the_teacher_without_its_url():
    """A card is made to be published: a private server's address stays out of it."""
    from elad.reading.model_card import teacher_text

    def named(url):
        return teacher_text(load_config(None, ["teacher=openai", "teacher.model=m",
                                               f"teacher.base_url={url}"]))

    assert named("http://10.1.2.3:8000/v1") == "`m` behind an OpenAI-compatible API"
    assert "10.1.2.3" not in named("https://10.1.2.3/v1")
    assert named("https://api.openai.com/v1") == \
        "`m` behind an OpenAI-compatible API (OpenAI's)"


def test_an_export_replaces_an_earlier_one_whole_and_refuses_a_foreign_folder(
        exported, tmp_path, capsys):
    """Files of two exports mixed in one folder load as neither: an adapter left from an
    earlier `--adapter-only` export beside new weights loads as the old student. An
    export replaces an earlier export of its kind whole, leaves it as it was when it
    fails, and writes nothing into a folder holding other files."""
    run_dir, _, _ = exported
    model, data = tmp_path / "model", tmp_path / "data"
    assert main(["-q", "export", str(run_dir), "--out", str(model)]) == 0
    (model / "adapter_config.json").write_text("{}")  # an earlier export's file
    assert main(["-q", "export", str(run_dir), "--out", str(model)]) == 0
    assert not (model / "adapter_config.json").exists()
    assert (model / "README.md").is_file() and (model / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no partial left

    assert main(["-q", "export-data", str(run_dir), "--out", str(data),
                 "--teacher-replies"]) == 0
    assert main(["-q", "export-data", str(run_dir), "--out", str(data)]) == 0
    assert not (data / "teacher_replies.jsonl").exists()
    assert not (data / "teacher_replies").exists()

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    with RunDir.open(broken) as run:
        weights = run.checkpoint(run.trained_round()) / "model.safetensors"
    weights.write_bytes(b"not a safetensors file")
    before = sorted(p.name for p in model.iterdir())
    capsys.readouterr()
    assert main(["-q", "export", str(broken), "--out", str(model)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert sorted(p.name for p in model.iterdir()) == before
    assert not (model / "adapter_config.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "data", "model"]

    for kind, out in (("export", data), ("export-data", model), ("export", run_dir)):
        assert main(["-q", kind, str(run_dir), "--out", str(out)]) == 2
        assert (f"--out {out}: a folder with other files in it; an export goes into a "
                "new or empty folder") in capsys.readouterr().err
    assert (data / "prompt_completion.jsonl").is_file()  # untouched


def test_an_export_into_a_folder_that_cannot_be_renamed_or_written(exported, tmp_path,
                                                                    capsys, monkeypatch):
    """An empty --out that is a mount point (a container's output volume), or whose
    parent cannot be written, cannot be renamed: the export renamed it and ended with a
    traceback, leaving a hidden partial copy beside it. It now writes inside the folder;
    a folder it cannot write is one line, and leaves nothing behind."""
    from pathlib import Path

    run_dir, _, _ = exported
    volume = tmp_path / "volume"
    volume.mkdir()
    rename = Path.rename

    def no_renaming_the_volume(self, target):  # as a mount point answers (EBUSY)
        if self in (volume, volume / "data"):
            raise OSError(16, "Device or resource busy")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", no_renaming_the_volume)
    for kind in ("export", "export-data"):
        out = volume if kind == "export" else volume / "data"
        assert main(["-q", kind, str(run_dir), "--out", str(out)]) == 0
    assert (volume / "README.md").is_file() and (volume / "model.safetensors").is_file()
    assert (volume / "data" / "prompt_completion.jsonl").is_file()


    def read_only(self, *args, **kwargs):  # a folder this process may not write
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", read_only)
    capsys.readouterr()
    out = tmp_path / "empty"
    os.mkdir(out)
    assert main(["-q", "export-data", str(run_dir), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"elad: error: --out {out}: cannot be written " \
        "(Permission denied)\n"
    assert list(out.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == \
        ["empty", "volume"]


def test_an_export_stopped_anywhere_in_its_swap_leaves_a_folder_the_next_replaces(
        tmp_path, monkeypatch):
    """Written inside --out, an export is moved up file by file: stopped at any step (a
    file it cannot remove or move, a Ctrl-C), and then stopped again while the next one
    writes, the folder is still taken as an earlier export and replaced whole (a swap
    stopped halfway, then a rerun stopped, left a folder refused for good). A folder
    a killed export left while writing marks nothing: files put beside it are kept."""
    from pathlib import Path

    from elad.reading.export_data import ExportError, out_folder, written_whole

    def export(out, names, fail=False):
        with written_whole(out, "data") as folder:
            for name in names:
                (folder / name).write_text(name)
            if fail:
                raise KeyboardInterrupt

    real = {"rename": Path.rename, "unlink": Path.unlink}
    new = ["a.jsonl", "prompt_completion.jsonl", "z.jsonl"]
    for step in range(6):  # 2 old files removed, 1 folder renamed, 3 files moved up
        out = tmp_path / f"out{step}"
        export(out, ["old.jsonl", "prompt_completion.jsonl"])
        calls = []

        def stop_at_step(self, *args, name, calls=calls, step=step):
            calls.append(name)
            if len(calls) == step + 1:
                raise PermissionError(13, "Permission denied")
            return real[name](self, *args)

        for name in real:
            monkeypatch.setattr(Path, name, lambda self, *a, name=name: stop_at_step(
                self, *a, name=name))
        with pytest.raises(ExportError, match="cannot be written"):
            export(out, new)
        for name, method in real.items():
            monkeypatch.setattr(Path, name, method)
        with pytest.raises(KeyboardInterrupt):  # the rerun stopped while it writes
            export(out, new, fail=True)
        assert out_folder(out, "data") == out  # taken as an earlier export
        export(out, new)
        assert sorted(p.name for p in out.iterdir()) == new, step
    out = tmp_path / "killed"
    (out / ".elad-partial").mkdir(parents=True)
    (out / ".elad-partial" / "prompt_completion.jsonl").write_text("")  # killed writing
    (out / "my_notes.md").write_text("mine")
    with pytest.raises(ExportError, match="a folder with other files in it"):
        out_folder(out, "data")


def test_the_model_card_says_what_the_batch_discount_took_off_the_list_prices():
    """A run that turned teacher.batch on or off keeps its calls' real costs; the card
    gives the list prices and what share of them was billed (before: the current
    config's prices, against a total they did not make)."""
    from elad.budget import Prices
    from elad.reading.model_card import discount_text

    prices = Prices(2.5, 10.0)
    listed = {"input_tokens": 2896, "output_tokens": 980,
              "cost_usd": prices.cost(2896, 980)}
    assert discount_text(listed, prices) == ""
    halved = {**listed, "cost_usd": listed["cost_usd"] / 2}
    assert discount_text(halved, prices) == \
        ", less the Batch API's discount: 50% of that billed"


def test_the_cards_tiny_student_counts_its_layers_and_heads():
    from elad.reading.model_card import student_text

    one = load_config(None, ["student.layers=1", "student.heads=1"])
    assert "(96 hidden, 1 layer, 1 head)" in student_text(one, adapter_only=False)
    assert "(96 hidden, 3 layers, 4 heads)" in student_text(load_config(None, []), False)
