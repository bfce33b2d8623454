"""The model card's front matter for pretrained students (card_metadata.py): the base
model's hub name, its license as its own card on this machine states it (never guessed),
the data and the teacher. The tiny run's card is tested in test_export.py."""

import re

import yaml
from huggingface_hub import constants

import elad.tasks.options
from elad.config import RunConfig
from elad.reading.card_metadata import front_matter
from elad.reading.model_card import method_text, training_lines


def metadata(*overrides, adapter_only=False):
    """The front matter for a config with a pretrained student and `overrides` (set as
    they are: a card describes a run whose config was validated when it ran)."""
    config = RunConfig()
    for item in ["student.kind=hf", *overrides]:
        key, value = item.split("=", 1)
        section, name = key.split(".")
        setattr(getattr(config, section), name, value)
    lines = front_matter(config, adapter_only)
    assert lines[0] == lines[-1] == "---"
    return yaml.safe_load("\n".join(lines[1:-1]))


def cached_card(cache, repo, text):
    """A model card in a Hugging Face cache laid out as huggingface_hub writes it."""
    repo_cache = cache / ("models--" + repo.replace("/", "--"))
    (repo_cache / "refs").mkdir(parents=True)
    (repo_cache / "refs" / "main").write_text("abc123")
    (repo_cache / "snapshots" / "abc123").mkdir(parents=True)
    (repo_cache / "snapshots" / "abc123" / "README.md").write_text(text)


def test_a_hub_base_model_with_its_cached_license(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cached_card(tmp_path, "acme/base-1b", "---\nlicense: apache-2.0\n---\n# base\n")
    cached_card(tmp_path, "acme/custom", "---\nlicense: other\nlicense_name: acme-ok\n"
                "license_link: LICENSE\n---\n")
    meta = metadata("student.model=acme/base-1b", "task.kind=jsonl",
                    "task.path=data/my questions.jsonl", "teacher.kind=openai",
                    "teacher.model=gpt-4o-mini")
    assert meta["base_model"] == "acme/base-1b" and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers"
    assert "datasets" not in meta  # a local file is no hub dataset id
    assert meta["teacher"] == {"kind": "openai", "model": "gpt-4o-mini"}
    meta = metadata("student.model=acme/custom", "task.hub=openai/gsm8k",
                    "task.kind=gsm8k", adapter_only=True)
    assert meta["base_model"] == "acme/custom" and meta["library_name"] == "peft"
    assert (meta["license"], meta["license_name"], meta["license_link"]) == (
        "other", "acme-ok", "LICENSE")
    assert meta["datasets"] == ["openai/gsm8k"]


def test_no_license_is_invented(tmp_path, monkeypatch):
    """Not in the cache, a card without a license, a local folder: no license (a local
    folder's own card still gives one), and no base_model for a path or a preset."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cached_card(tmp_path, "acme/silent", "---\ntags: [x]\n---\n")
    for model in ("acme/absent", "acme/silent"):
        meta = metadata(f"student.model={model}")
        assert meta["base_model"] == model and "license" not in meta
    folder = tmp_path / "my" / "model"
    folder.mkdir(parents=True)
    meta = metadata(f"student.model={folder}", "task.kind=svamp")
    assert "base_model" not in meta and "license" not in meta
    assert "datasets" not in meta
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    meta = metadata(f"student.model={folder}")
    assert meta["license"] == "mit" and "base_model" not in meta
    meta = metadata("student.model=gemma-3-270m")
    assert "base_model" not in meta and "license" not in meta


def test_how_to_train_further_follows_the_students_template():
    """A plain-prompt student's card points at assistant-only loss (its template has the
    markers); a chat-template student's says how to get the same loss without them."""
    plain, chat = RunConfig(), RunConfig()
    chat.student.kind, chat.student.chat_template = "hf", True
    assert "assistant_only_loss=True" in " ".join(training_lines(plain))
    text = "\n".join(training_lines(chat))
    assert "base model's own" in text and '"completion": row["messages"][1:]' in text


def test_one_annotation_and_one_revision_are_counted_in_the_singular(tmp_path):
    from test_report import write_run

    from elad.reading.model_card import targets_text
    from elad.store import RunStore

    write_run(tmp_path / "run")
    text = targets_text(RunStore(tmp_path / "run" / "run.sqlite"), 1)
    assert text.startswith("1 annotation (the teacher wrote the whole explanation) and "
                           "1 revision (it revised")


def test_a_local_data_file_is_named_without_its_machines_path(tmp_path):
    from elad.reading.model_card import data_text
    from elad.store import RunStore

    config = RunConfig()
    config.task.kind, config.task.path = "jsonl", "/home/alice/private/questions.jsonl"
    text = data_text(config, RunStore(tmp_path / "run.sqlite"))
    assert "jsonl from `questions.jsonl`" in text and "/home/alice" not in text


def test_the_method_line_says_how_the_seed_round_was_asked():
    """Whole explanations for the seed round only where no student explained it: a
    student from scratch's; a warm (or pretrained) one's ranked round 0 is revised too."""
    from elad.config import StudentConfig

    cold, warm = StudentConfig(warmup="none"), StudentConfig(warmup="curriculum")
    assert method_text(RunConfig(mode="revise", student=cold)).endswith(
        "from its first wrong step (and wrote whole ones for the seed round)")
    assert method_text(RunConfig(mode="revise", student=warm)).endswith(
        "from its first wrong step")
    assert method_text(RunConfig(mode="auto", student=cold)).endswith(
        "expected to cost less (whole ones for the seed round)")
    assert method_text(RunConfig(mode="auto", student=warm)).endswith(
        "expected to cost less")
    assert method_text(RunConfig(mode="annotate", student=warm)) == (
        "which wrote a whole explanation for each")


def test_the_card_says_how_options_are_written_and_answers_read():
    """A user who rebuilt the prompt with AQuA's options as written (double spaces), or
    read the student's last answer line, measured another accuracy than the card's: the
    card says how elad wrote the options and read the answer, and the reader it names
    gives elad's answers."""
    from elad.answers import parse_explanation
    from elad.reading.model_card import reading_lines
    from elad.tasks.options import option_texts, with_options

    config = RunConfig()
    for key, value in (("kind", "jsonl"), ("answer_type", "choice"),
                       ("options_field", "options")):
        setattr(config.task, key, value)
    text = "\n".join(reading_lines(config))
    assert '`question + "\\nAnswer choices: (A) 32400 (B) 28000"`' in text
    assert "without its own label and outer spaces" in text
    assert with_options("Q?", option_texts(["A)  32400", "B) 28000"], "options")) == \
        "Q?\nAnswer choices: (A) 32400 (B) 28000"
    assert "(answer_type `choice`)" in text and "the first line that starts with" in text
    reader = re.search(r"and `(elad\.tasks\.options\.answer_letter\(.*?\))` gives", text)
    gold = {"answer": "28000", "options": ["A)  32400", "B) 28000"]}  # an option's text
    assert eval(reader[1], {"elad": elad, **gold}) == "B"  # the letter elad compared
    student = "2 + 2 = 4\nThe answer is B) 28000.\nThe answer is C."
    assert parse_explanation(student, "choice").answer == "B"  # the first line's
    aqua = RunConfig()
    aqua.task.kind = "aqua"  # its options apart too, with no options_field
    assert "the data's `options`" in "\n".join(reading_lines(aqua))
    synthetic = "\n".join(reading_lines(RunConfig()))
    assert "Answer choices" not in synthetic and "the option it names" not in synthetic
    assert ("(answer_type `number` (arithmetic, largest), `yesno` (coin_flip)), and "
            "`elad.answers.normalize_answer(answer, answer_type)` reads a test answer") \
        in synthetic


def test_a_card_written_while_its_run_goes_on_says_so(tmp_path):
    """An export of the student so far, its run going on: the card said "stopped: not
    yet", as of a run stopped before its rounds were done."""
    from elad.lock import hold
    from elad.reading.model_card import not_stopped

    assert not_stopped(tmp_path) == "not yet"
    with hold(tmp_path):
        assert not_stopped(tmp_path) == "not yet, it was going on as this card was written"
