"""`elad init`: a config for the user's own JSON lines that loads and runs, the data
file checked first, a one-line error and nothing written for a bad data file or a target
that exists, and the student profile's values written out."""

import json
import logging
from pathlib import Path

import pytest

from elad.cli import main
from elad.config import load_config
from elad.fakes.oracle_server import OracleServer, serve
from elad.init_config import chat_tuned
from elad.init_data import guess_answer_type
from elad.tasks import load_task, synthetic

from conftest import TINY

STUDENT = [o for o in TINY if o.startswith("student.")]


def write_questions(path: Path, n: int, answered: bool = True) -> Path:
    """`n` arithmetic questions (the oracle server can answer them) as JSON lines."""
    data = synthetic.load(["arithmetic"], n, 1, 0, 1).pool[:n]
    with path.open("w") as out:
        for example in data:
            item = {"q": example.question}
            if answered:
                item["a"] = synthetic.solve(example.question)[1]
            out.write(json.dumps(item) + "\n")
    return path


def init_args(out: Path, data: Path, *extra: str) -> list[str]:
    return ["init", str(out), "--data", str(data), "--question-field", "q",
            "--answer-field", "a", *extra]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("elad: error: ") and "\n" not in err, err
    return err


def test_init_writes_a_config_that_loads_and_runs(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl", 60)
    out = tmp_path / "run.toml"
    with serve(OracleServer()) as (server, url):
        assert main(init_args(out, data, "--teacher-model", "local-oracle", "--base-url",
                              url, "--api-key-env", "", "--price-input", "2.5",
                              "--price-output", "10", "--budget", "0.5")) == 0
        printed = capsys.readouterr().out
        assert server.ledger == []  # init asks the teacher nothing
        config = load_config(out)
        assert (config.task.kind, config.task.path) == ("jsonl", str(data))
        assert (config.task.question_field, config.task.answer_type) == ("q", "number")
        assert (config.teacher.kind, config.teacher.model, config.budget_usd) == (
            "openai", "local-oracle", 0.5)
        assert config.student.kind == "tiny" and config.task.pool_size == 0  # the whole file
        assert "lora_rank" not in out.read_text()  # a pretrained student's keys alone
        assert config.student.max_new_tokens == 256  # room for an LLM's explanation
        assert ("note: the tiny student is a small model trained from scratch on this "
                "machine, to try elad offline; a pretrained one learns real questions: "
                "--student Qwen/Qwen2.5-0.5B-Instruct") in printed
        assert f"wrote {out}: a run config for {data} (60 questions, 60 with an answer" \
            in printed
        assert "estimate (offline, no teacher call): teacher local-oracle" in printed
        run_dir = tmp_path / "runs" / "run"
        for command in (f"elad run {out} --run-dir runs/run", "elad report runs/run",
                        "elad export-data runs/run --out runs/run/data",
                        "elad export runs/run --out runs/run/final"):
            assert command in printed
        assert main(["-q", "run", str(out), *STUDENT, "seed_size=4", "round_size=2",
                     "candidates=4", "max_rounds=1", "--run-dir", str(run_dir)]) == 0
        assert len(server.bills()) > 0
    assert "stopped: max rounds" in capsys.readouterr().out


def test_a_config_written_in_another_folder_names_the_data_from_there(
        tmp_path, capsys, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "configs").mkdir()
    write_questions(tmp_path / "data" / "questions.jsonl", 40)
    monkeypatch.chdir(tmp_path)
    assert main(init_args(Path("configs/mine.toml"), Path("data/questions.jsonl"),
                          "--teacher-model", "gpt-4o-mini")) == 0
    capsys.readouterr()
    assert 'path = "../data/questions.jsonl"' in (tmp_path / "configs/mine.toml").read_text()
    monkeypatch.chdir(tmp_path / "configs")  # any working directory reads the same file
    config = load_config(tmp_path / "configs" / "mine.toml")
    assert Path(config.task.path).resolve() == (tmp_path / "data/questions.jsonl").resolve()


def test_init_refuses_a_target_that_exists_and_writes_nothing(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl", 20)
    out = tmp_path / "run.toml"
    out.write_text("# mine\n")
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 2
    assert "run.toml: already exists" in one_line_error(capsys)
    assert out.read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["questions.jsonl", "run.toml"]


@pytest.mark.parametrize("lines, problem", [
    (['{"q": "What is 1 plus 2?"}', '{"q": "What is 2 plus 2?"', '{"q": "x"}'],
     "questions.jsonl:2: not valid JSON"),
    (['{"q": "What is 1 plus 2?"}', '["not", "an", "object"]'],
     "questions.jsonl:2: not a JSON object but list"),
    (['{"q": "What is 1 plus 2?"}', '{"question": "What is 2 plus 2?"}'],
     "questions.jsonl:2: no 'q' text (fields here: question"),
    (['{"q": "What is 1 plus 2?"}', '{"q": " "}'],  # not "no 'q' text (fields here: q"
     "questions.jsonl:2: the 'q' field holds no text: ' '"),
    ([], "questions.jsonl: no question in it"),
])
def test_a_bad_data_file_is_a_one_line_error_and_nothing_is_written(tmp_path, capsys,
                                                                     lines, problem):
    data = tmp_path / "questions.jsonl"
    data.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 2
    assert problem in one_line_error(capsys)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["questions.jsonl"]


def test_init_skips_lines_that_cannot_be_read_when_asked_as_the_run_will(tmp_path, capsys):
    """One bad line in a big file stopped init, with no word of the run's
    task.skip_malformed, and init had no way to skip it."""
    data = write_questions(tmp_path / "questions.jsonl", 30)
    data.write_text(data.read_text() + '{"q": "broken\n[1, 2]\n')
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 2
    assert one_line_error(capsys).endswith("; --skip-malformed skips such lines")
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini",
                          "--skip-malformed")) == 0
    printed = capsys.readouterr().out
    assert "(30 questions, 30 with an answer" in printed
    assert (f"note: 2 line(s) that cannot be read left out, as the run will leave them "
            f"out (task.skip_malformed = true); the first: {data}:31: not valid JSON") \
        in printed
    config = load_config(out)
    assert config.task.skip_malformed
    assert len(load_task(config.task, 0).pool) == 30 - config.task.test_size


def test_an_answer_not_of_the_answer_type_given_names_inits_ways_out(tmp_path, capsys):
    """Before: the run's loader's error, which named task.skip_malformed, a key init
    cannot set."""
    data = write_questions(tmp_path / "questions.jsonl", 20)
    with data.open("a") as more:
        more.write(json.dumps({"q": "What is one plus seven?", "a": "eight"}) + "\n")
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini",
                          "--answer-type", "number")) == 2
    assert one_line_error(capsys) == (
        f"elad: error: {data}:21: answer 'eight' is not a number (--answer-type number); "
        "fix or remove the line, or give --answer-type text to compare answers as written")
    assert not out.exists()
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini",
                          "--answer-type", "text")) == 0
    assert 'answer_type = "text"' in out.read_text()
    # a type guessed from the test file's answers checks the pool's too (before: the
    # run's loader's error, naming task.skip_malformed)
    test = write_questions(tmp_path / "test.jsonl", 5)
    out.unlink()
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini")) == 2
    assert one_line_error(capsys) == (
        f"elad: error: {data}:21: answer 'eight' is not a number (guessed from the test "
        "file's answers); fix or remove the line, or give --answer-type text to compare "
        "answers as written")


def test_init_names_a_choice_files_options_field_and_the_pools_classes_too(tmp_path):
    """Options kept apart (AQuA's layout) are read from the field the first line holds
    them in; a label task's classes are the test file's and any others the pool names
    (the run refused a pool line whose class the test file lacked)."""
    def lines(path, rows):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path

    options = {"choices": ["A) 1", "B) 2", "C) 3"]}
    data = lines(tmp_path / "q.jsonl", [{"q": f"Which is {i % 3 + 1}?", **options}
                                        for i in range(30)])
    test = lines(tmp_path / "t.jsonl", [{"q": f"Which is {i % 3 + 1}?", **options,
                                         "a": "ABC"[i % 3]} for i in range(9)])
    out = tmp_path / "choice.toml"
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini")) == 0
    task = load_config(out).task
    assert (task.answer_type, task.options_field) == ("choice", "choices")
    for name, options, answers in [  # the hub's forms: MMLU's (answers counted from 0)
            ("mmlu", {"choices": ["1", "2", "3", "4"]}, [0, 1, 2, 3]),  # and ARC's
            ("arc", {"options": {"text": ["1", "2", "3"], "label": ["1", "2", "3"]}},
             ["1", "2", "3"])]:
        data = lines(tmp_path / f"{name}.jsonl", [
            {"q": f"Which is {i % 3 + 1}?", **options, "a": answers[i % len(answers)]}
            for i in range(30)])
        out = tmp_path / f"{name}.toml"
        assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 0
        config = load_config(out)
        assert (config.task.answer_type, config.task.options_field) == \
            ("choice", next(iter(options)))  # before: number, the options left out
        test = load_task(config.task, 0).test
        assert {e.answer for e in test} <= set("ABCD") and "(C) 3" in test[0].question
    data = lines(tmp_path / "r.jsonl", [{"q": f"Review {i}", **({"a": "Neutral"} if i < 3
                                                              else {})} for i in range(30)])
    test = lines(tmp_path / "s.jsonl", [{"q": f"Review t{i}", "a": ["positive", "negative"][
        i % 2]} for i in range(8)])
    out = tmp_path / "label.toml"
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini")) == 0
    task = load_config(out).task
    assert task.answer_type == "label"
    assert task.labels == ["Neutral", "negative", "positive"]
    assert not task.options_field


def test_a_choice_files_answer_that_names_no_option_is_named(tmp_path, capsys):
    """One test answer "F" among A-E answers of a file with its options apart: init
    guessed a label task of six classes and wrote no options field, so every question the
    teacher was paid for lost its options. Now the line is named, as the run names it.
    One "maybe" among yes and no answers is a class of its own, said so."""
    options = {"options": ["A)1", "B)2", "C)3", "D)4", "E)5"]}
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"q": f"Which is {i % 5 + 1}?", **options}) + "\n"
                            for i in range(30)))
    test = tmp_path / "t.jsonl"
    test.write_text("".join(json.dumps({"q": f"Which is {i % 5 + 1}?", **options,
                                        "a": "F" if i == 2 else "ABCDE"[i % 5]}) + "\n"
                            for i in range(10)))
    for given in ((), ("--answer-type", "choice")):
        out = tmp_path / f"choice{len(given)}.toml"
        assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                              "gpt-4o-mini", *given)) == 2
        assert one_line_error(capsys) == (
            f"elad: error: {test}:3: answer 'F' names no option ('options' has 5: give its "
            "letter, A to E); the file has its options apart ('options') and its other "
            "answers name one of them. Fix the line (its answer or its options) or remove "
            "it, or give --answer-type to read the answers as another type, without the "
            "options")
        assert not out.exists()
    out = tmp_path / "label.toml"  # a type given: the user's choice
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini", "--answer-type", "label")) == 0
    test.write_text("".join(json.dumps({"q": f"Which is {i}?", **options,
                                        "a": f"because {i}"}) + "\n" for i in range(10)))
    out = tmp_path / "text.toml"  # no answer names an option: not their options
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini")) == 0
    assert not load_config(out).task.options_field  # as before: read as numbers here
    capsys.readouterr()
    test.write_text("".join(json.dumps({"q": f"Is {i} even?", "a": "maybe" if i == 6 else
                                        ["yes", "no"][i % 2]}) + "\n" for i in range(12)))
    out = tmp_path / "yesno.toml"  # one "maybe" among yes and no: a class, or a typo?
    assert main(init_args(out, data, "--test", str(test), "--teacher-model",
                          "gpt-4o-mini")) == 0
    assert ("labels: maybe, no, yes (task.labels: the teacher is told them, and answers "
            "with one of them)\nnote: maybe on one line only: a class of its own, or a "
            "typo to fix (or --answer-type for another kind of answer)?"
            ) in capsys.readouterr().out
    pool = tmp_path / "p.jsonl"  # the pool's answers count too: there, "maybe" is common
    pool.write_text("".join(json.dumps({"q": f"Is {i} odd?", "a": "maybe"}) + "\n"
                            for i in range(30)))
    assert main(init_args(tmp_path / "pooled.toml", pool, "--test", str(test),
                          "--teacher-model", "gpt-4o-mini")) == 0
    assert "on one line only" not in capsys.readouterr().out


def test_unlabeled_questions_are_counted_and_a_test_file_needs_answers(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl", 30, answered=False)
    test = write_questions(tmp_path / "test.jsonl", 5, answered=False)
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--test", str(test),
                          "--teacher-model", "gpt-4o-mini")) == 2
    assert "test.jsonl:1: no 'a': a test file needs an answer" in one_line_error(capsys)
    assert not out.exists()
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 0
    printed = capsys.readouterr().out
    assert "(30 questions, 0 with an answer" in printed
    assert ('note: answers compared as text are equal only as written, lower-cased '
            '("1,200" is not "1200"); --answer-type number') in printed
    assert load_config(out).task.test_from_teacher == 6  # a fifth, held out of the pool
    assert "pool: 24 questions" in printed  # the estimate holds them out as the run does
    assert "teacher-annotated test set: 6 requests" in printed
    out.unlink()
    write_questions(test, 5)  # labeled now: their answers show how answers compare
    assert main(init_args(out, data, "--test", str(test),
                          "--teacher-model", "gpt-4o-mini")) == 0
    printed = capsys.readouterr().out
    assert "answers compared as number, guessed" in printed
    assert (f"note: {test} has 5 questions: each is 20.0% of test accuracy, and at 0.5 "
            "its 95% band is +-0.44; 100 or more tell rounds apart") in printed
    task = load_config(out).task
    assert (task.answer_type, task.test_path, task.test_from_teacher) == (
        "number", str(test), 0)


def test_a_data_files_labeled_lines_are_its_test_set_and_the_teacher_annotates_none(
        tmp_path, capsys):
    """As the run reads one file (docs/data.md): its lines with an answer are the test
    set, a fifth of it at most here so that a pool is left; init pays for no test set."""
    data = write_questions(tmp_path / "questions.jsonl", 40)
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini")) == 0
    printed = capsys.readouterr().out
    task = load_config(out).task
    assert (task.test_path, task.test_size, task.test_from_teacher) == ("", 8, 0)
    assert "teacher-annotated test set" not in printed
    assert "pool: 32 questions" in printed
    assert (f"note: the test set ({data}'s labeled lines) has 8 questions: each is "
            "12.5% of test accuracy") in printed
    loaded = load_task(task, 0)
    assert (len(loaded.pool), len(loaded.test)) == (32, 8)
    assert all(e.answer for e in loaded.test)
    one = write_questions(tmp_path / "one.jsonl", 1, answered=False)
    assert main(init_args(tmp_path / "one.toml", one, "--test", str(data),
                          "--teacher-model", "gpt-4o-mini")) == 2
    assert "one.jsonl: 1 question(s) leave too few for the pool (it needs 2 or more)" in \
        one_line_error(capsys)


def test_repeated_and_shared_questions_are_warned_of_before_paying(tmp_path, capsys,
                                                                   caplog):
    data = write_questions(tmp_path / "questions.jsonl", 30)
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines) + lines[3])  # line 4 again, at the end
    test = tmp_path / "test.jsonl"
    test.write_text("".join(lines[:5]))  # five pool questions
    out = tmp_path / "run.toml"
    caplog.set_level(logging.WARNING, logger="elad")
    assert main(init_args(out, data, "--test", str(test),
                          "--teacher-model", "gpt-4o-mini")) == 0
    assert "repeated pool questions: 1 (each may be bought" in caplog.text  # init's
    assert "test questions also in the pool: 5 (the test accuracy" in caplog.text
    caplog.clear()
    load_task(load_config(out).task, 0)  # and the run says it too, in its log
    assert "questions.jsonl: repeated pool questions: 1 (each" in caplog.text
    assert "test questions also in the pool: 5" in caplog.text


@pytest.mark.parametrize("model, chat", [
    ("Qwen/Qwen2.5-0.5B-Instruct", True), ("google/gemma-3-270m-it", True),
    ("meta-llama/Llama-2-7b-chat-hf", True), ("Qwen/Qwen2.5-0.5B", False),
    ("gemma-3-270m", False), ("models/my-student", False)])
def test_init_uses_the_chat_template_of_a_model_tuned_to_chat(model, chat):
    assert chat_tuned(model) is chat


def test_init_needs_a_teacher_model_and_its_prices(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl", 20)
    out = tmp_path / "run.toml"
    assert main(init_args(out, data)) == 2  # stdin is no terminal: nothing to ask
    assert "--teacher-model is needed" in one_line_error(capsys)
    assert main(init_args(out, data, "--teacher-model", "my-own-model")) == 2
    assert "'my-own-model' is not in the price table: give --price-input" in \
        one_line_error(capsys)
    assert not out.exists()


def test_a_pretrained_student_gets_its_profile_written_out(tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_questions(tmp_path / "questions.jsonl", 40)
    out = tmp_path / "run.toml"
    assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini", "--student",
                          "Qwen/Qwen2.5-0.5B-Instruct")) == 0
    text = out.read_text()
    assert 'model = "Qwen/Qwen2.5-0.5B-Instruct"' in text
    assert "learning_rate = 0.0002" in text and "max_new_tokens = 256" in text
    assert "# peak learning rate (AdamW, warmup, cosine) (default by student.kind, hf: " \
        "0.0002); float" in text
    student = load_config(out).student
    assert (student.kind, student.learning_rate, student.train_epochs) == ("hf", 2e-4, 3.0)
    assert student.chat_template  # an Instruct model: prompts in its chat template
    assert "export OPENAI_API_KEY=..." in capsys.readouterr().out  # not set: say so


def test_answers_are_guessed_numbers_when_elad_reads_each_as_one():
    """As the answers will be compared: GSM8K's own answers (a rationale ending
    "#### 72") are numbers, as are "1,200" and "$18.00"; several numbers are not one."""
    gsm8k = ["Natalia sold 48/2 = 24 clips in May.\n48+24 = 72\n#### 72", "#### 1,200"]
    assert guess_answer_type(gsm8k + ["$18.00", "-3"]) == "number"
    assert guess_answer_type(["yes", "No", "true"]) == "yesno"
    assert guess_answer_type(["A", "c", "(E)", "B"]) == "choice"
    assert guess_answer_type(["A", "F"]) == "text"  # F is no choice letter
    assert guess_answer_type(["between 3 and 4", "7"]) == "text"
    assert guess_answer_type(["positive", "negative"]) == "text"


def test_a_local_teacher_with_an_unset_key_is_told_it_may_need_none(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_questions(tmp_path / "questions.jsonl", 30)
    for url, local in (("http://127.0.0.1:8000/v1", True),
                       ("https://api.openai.com/v1", False)):
        out = tmp_path / f"run{local}.toml"
        assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini",
                              "--base-url", url)) == 0
        printed = capsys.readouterr().out
        assert "export OPENAI_API_KEY=..." in printed
        assert ("a local server that needs none: elad init ... --api-key-env ''"
                in printed) == local


def test_a_budget_too_small_to_start_says_so_before_the_next_commands(tmp_path, capsys):
    """Before: the estimate said 'no teacher request fits' and init went on to 'next:
    elad run ...', a run that stops at once."""
    data = write_questions(tmp_path / "questions.jsonl", 30)
    for budget, starts in (("0.0001", False), ("5", True)):
        out = tmp_path / f"run{starts}.toml"
        assert main(init_args(out, data, "--teacher-model", "gpt-4o-mini",
                              "--budget", budget)) == 0
        printed = capsys.readouterr().out
        first = f"first: raise budget_usd in {out}: as it is, the run cannot start (above)"
        assert (f"{first}\nnext:" in printed) == (not starts)
        assert ("no teacher request fits" in printed) == (not starts)
