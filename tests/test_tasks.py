"""Dataset loaders on the shared copies: every item parses; answers normalize; bad lines
are named by file and line; the pool hides its answers."""

import dataclasses
import json
import logging

import pytest

from elad.answers import normalize_answer, parse_explanation
from elad.config import ConfigError, TaskConfig, load_config
from elad.tasks import (
    answer_type,
    aqua,
    gsm8k,
    hidden_answer,
    load_task,
    reference_solutions,
    strategyqa,
    svamp,
)
from elad.tasks.files import json_items, read_split

FILES = [  # kind, split, file, count in the shared data README
    ("gsm8k", "train", "gsm8k/train.jsonl", 7473),
    ("gsm8k", "test", "gsm8k/test.jsonl", 1319),
    ("svamp", "all", "svamp/SVAMP.json", 1000),
    ("aqua", "dev", "aqua/dev.json", 254),
    ("aqua", "test", "aqua/test.json", 254),
    ("strategyqa", "train", "strategyqa/train.json", 2061),
    ("strategyqa", "dev", "strategyqa/dev.json", None),
]
MODULES = {"gsm8k": gsm8k, "svamp": svamp, "aqua": aqua, "strategyqa": strategyqa}


def raw_items(path):
    text = path.read_text()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("kind, split, name, count", FILES)
def test_every_item_of_the_shared_files_parses(shared_data, kind, split, name, count):
    config = TaskConfig(kind=kind, path=str(shared_data / kind))
    solved = read_split(MODULES[kind], config, split)
    raw = raw_items(shared_data / name)
    print(f"{name}: {len(solved)} of {len(raw)} items parsed")
    assert len(solved) == len(raw)
    if count is not None:
        assert len(raw) == count
    assert all(s.question and s.answer is not None for s in solved.values())
    if kind != "strategyqa":  # a few StrategyQA items have no facts
        assert sum(bool(s.steps) for s in solved.values()) >= 0.99 * len(solved)


def test_line_numbers_point_at_the_items(shared_data):
    items = dict(json_items(shared_data / "strategyqa" / "dev.json"))
    lines = (shared_data / "strategyqa" / "dev.json").read_text().splitlines()
    for line, item in list(items.items())[:20]:
        assert lines[line - 1].strip() == "{"
        assert item["qid"] in lines[line]


def test_gsm8k_answers_and_steps_from_real_lines(shared_data):
    solved = read_split(gsm8k, TaskConfig(kind="gsm8k", path=str(shared_data / "gsm8k")),
                        "train")
    assert solved["gsm8k-train-00346"].answer == "1080"  # "#### 1,080"
    assert solved["gsm8k-train-05716"].answer == "-7"
    weng = solved["gsm8k-train-00002"]
    assert weng.steps == ("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.",
                          "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.")
    assert weng.answer == "10"
    # what a student writes about those lines normalizes to the same answers
    assert normalize_answer("$1,080.00", "number") == "1080"
    assert normalize_answer("-7 degrees", "number") == "-7"
    assert parse_explanation("0.2 x 50 = $10.\nThe answer is $10.", "number").answer == "10"


def test_svamp_aqua_strategyqa_from_real_lines(shared_data):
    svamp_items = read_split(svamp, TaskConfig(kind="svamp", path=str(shared_data / "svamp")),
                             "all")
    first = next(iter(svamp_items.values()))  # chal-1: "( 76.0 - 25.0 )", 51.0
    assert first.answer == "51" and first.steps == ("76 - 25 = 51",)
    assert first.question.startswith("Each pack of dvds costs 76 dollars. If there is a "
                                     "discount of 25 dollars on each pack, How much")
    steps = {s.steps[0] for s in svamp_items.values()}
    assert "6 - (3 + 2) = 1" in steps  # "( 6.0 - ( 3.0 + 2.0 ) )"
    assert "(692 + 692) - 458 = 926" in steps

    aqua_items = list(read_split(aqua, TaskConfig(kind="aqua", path=str(shared_data / "aqua")),
                                 "dev").values())
    birds = aqua_items[0]
    assert birds.answer == "A"
    assert birds.question.endswith("Answer choices: (A) 32400 (B) 6000 (C) 600 (D) 60000 "
                                   "(E) 10")
    # the last line, "Correct answer - A", only names the answer: it is not a step
    assert birds.steps[-1] == "Speed in miles/minutes = 60 * 540 = 32400"
    assert "(B) $905" in aqua_items[5].question and aqua_items[5].answer == "B"
    for written, letter in [("A", "A"), ("(B)", "B"), ("C) 600", "C"), ("option D", "D"),
                            ("Answer: E", "E"), ("a dog", None), ("F", None)]:
        assert normalize_answer(written, "choice") == letter

    qa = read_split(strategyqa, TaskConfig(kind="strategyqa",
                                           path=str(shared_data / "strategyqa")), "train")
    genghis = next(iter(qa.values()))
    assert genghis.answer == "yes"
    assert genghis.steps[0].startswith("Plan: (1) How many kids did Julius Caesar have?")
    assert genghis.steps[1] == "Julius Caesar had three children."
    assert {s.answer for s in qa.values()} == {"yes", "no"}
    assert normalize_answer("True", "yesno") == "yes"
    assert normalize_answer("No, because", "yesno") == "no"


def test_pool_hides_answers_and_test_keeps_them(shared_data):
    config = load_config(None, ["task.kind=svamp", f"task.path={shared_data / 'svamp'}",
                                "task.pool_size=200", "task.test_size=50",
                                "teacher.kind=reference"])
    data = load_task(config.task, seed=0)
    assert len(data.pool) == 200 and len(data.test) == 50
    assert all(e.answer is None for e in data.pool)
    assert all(e.answer is not None for e in data.test)
    assert not {e.id for e in data.pool} & {e.id for e in data.test}  # one split, disjoint
    assert all(answer_type(e) == "number" for e in data.test)
    solutions = {s.id: s.answer for s in reference_solutions(config.task)}
    assert all(hidden_answer(e, config.task) == solutions[e.id] for e in data.pool)
    assert load_task(config.task, seed=0) == data
    assert load_task(config.task, seed=1).pool != data.pool


def test_default_path_is_the_shared_copy_next_to_the_project(shared_data, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)  # not found from here: found next to the project
    data = load_task(TaskConfig(kind="aqua", pool_size=10, test_size=5), seed=0)
    assert len(data.pool) == 10 and data.pool[0].task == "aqua"


def test_missing_data_and_bad_splits_are_config_errors(tmp_path, shared_data):
    with pytest.raises(ConfigError, match="task.path='/nowhere': no such file or folder"):
        load_task(TaskConfig(kind="gsm8k", path="/nowhere"), 0)
    with pytest.raises(ConfigError,
                       match=r"no 'validation' split here \(splits here: test, train\)"):
        load_task(TaskConfig(kind="gsm8k", path=str(shared_data / "gsm8k"),
                             test_split="validation"), 0)
    with pytest.raises(ConfigError,
                       match=r"no 'train' split here \(splits here: dev, test\)"):
        load_task(TaskConfig(kind="aqua", path=str(shared_data / "aqua"),
                             test_split="train"), 0)  # a split AQuA has, not this copy
    with pytest.raises(ConfigError,
                       match=r"no 'test' split here \(no split's file is here\)"):
        load_task(TaskConfig(kind="gsm8k", path=str(shared_data / "svamp")), 0)
    with pytest.raises(ConfigError, match="task.path is needed for task.kind=jsonl"):
        load_config(None, ["task.kind=jsonl", "teacher.kind=reference"])
    with pytest.raises(ConfigError, match="task.answer_type='float' is not one of"):
        load_config(None, ["task.answer_type=float"])
    with pytest.raises(ConfigError, match="reference replays dataset rationales"):
        load_config(None, ["teacher.kind=reference"])


def write_lines(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")


def test_malformed_line_is_named_and_skipped_only_when_allowed(tmp_path, caplog):
    path = tmp_path / "mine.jsonl"
    write_lines(path, [{"q": "Is ice cold?", "a": True, "why": ["Ice is frozen water."]},
                       '{"q": "broken", ',
                       {"q": "Is fire cold?", "a": "no"},
                       {"q": "What?", "a": "perhaps"},
                       {"q": "Is snow white?", "a": "Yes", "why": "Snow reflects light.\n"}])
    options = ["task.kind=jsonl", f"task.path={path}", "task.question_field=q",
               "task.answer_field=a", "task.rationale_field=why", "task.answer_type=yesno",
               "task.pool_size=150", "task.test_size=1", "teacher.kind=reference"]
    config = load_config(None, options)
    with pytest.raises(ConfigError, match=r"mine.jsonl:2: not valid JSON .*skip_malformed"):
        load_task(config.task, 0)
    config = load_config(None, [*options, "task.skip_malformed=true"])
    with caplog.at_level(logging.WARNING, logger="elad"):
        data = load_task(config.task, 0)
    assert "mine.jsonl:2: skipped: not valid JSON" in caplog.text
    assert "mine.jsonl:4: skipped: answer 'perhaps' is not a yesno" in caplog.text
    assert len(data.pool) + len(data.test) == 3
    solved = {s.question: s for s in reference_solutions(config.task)}
    assert solved["Is ice cold?"].answer == "yes"
    assert solved["Is ice cold?"].steps == ("Ice is frozen water.",)
    assert solved["Is snow white?"].steps == ("Snow reflects light.",)
    assert {e.task for e in data.test} == {"jsonl-yesno"}
    assert answer_type(data.test[0]) == "yesno"


def test_jsonl_folder_with_splits_and_number_answers(tmp_path):
    write_lines(tmp_path / "train.jsonl",
                [{"question": f"What is {i} + 1?", "answer": f"{i + 1:,}"}
                 for i in range(998, 1010)])
    write_lines(tmp_path / "test.jsonl", [{"question": "What is 2 + 2?", "answer": 4}])
    config = TaskConfig(kind="jsonl", path=str(tmp_path), answer_type="number",
                        pool_size=5, test_size=3)
    data = load_task(config, 0)
    assert len(data.pool) == 5 and data.test[0].answer == "4"
    assert {hidden_answer(e, config) for e in data.pool} <= {str(i + 1) for i in range(998, 1010)}


def test_a_choice_lines_options_list_is_shown_after_its_question(tmp_path):
    """AQuA's own layout (options apart, lettered or not) in the user's file
    (task.options_field): without them, the teacher and the student would be asked for
    a letter with nothing to pick."""
    write_lines(tmp_path / "train.jsonl", [
        {"question": f"Q{i}: 2 + {i}?", "choices": [f"A){i + 2}", f"b) {i + 3}"]}
        for i in range(6)])
    write_lines(tmp_path / "test.jsonl", [
        {"question": "What is 1 + 1?", "choices": [3, "2", " 4 "], "answer": "B"}])
    config = TaskConfig(kind="jsonl", path=str(tmp_path), answer_type="choice",
                        options_field="choices")
    data = load_task(config, 0)
    assert data.test[0].question == "What is 1 + 1?\nAnswer choices: (A) 3 (B) 2 (C) 4"
    assert "Q0: 2 + 0?\nAnswer choices: (A) 2 (B) 3" in {e.question for e in data.pool}
    for n, (options, answer, problem) in enumerate([
            ("A) 2", "A", "'choices' is not a list of two to five options"),
            (None, "A", "no 'choices' list"),
            (["B) 2", "A) 3"], "A", r"option 'B\) 2' is labeled B, not A \(or 1\), its"),
            (["A) 2", "B)"], "A", "option 'B\\)' in 'choices' has no text"),
            (["2", "3"], "C", r"answer 'C' names no option \('choices' has 2: give its"),
            (["2", "3"], 2, r"answer 2 names no option \(a whole number is the option's"),
            ({"text": ["2", "3"], "label": ["A"]}, "A", "'choices' has 2 texts but labels"),
            (["x", "x"], "x", r"answer 'x' is the text of 2 options of 'choices'"),
            ({"text": ["2", "3"], "label": ["1", "3"]}, "A", r"option .* 3, not B")]):
        bad = tmp_path / f"bad{n}.jsonl"
        write_lines(bad, [{"question": "1 + 1?", "choices": options, "answer": answer}])
        with pytest.raises(ConfigError, match=rf"bad{n}.jsonl:1: {problem}"):
            load_task(dataclasses.replace(config, path=str(bad)), 0)
    for options, answer in [  # the hub's forms: ARC's, MMLU's, a list of objects
            ({"text": ["3", "2"], "label": ["1", "2"]}, "2"),
            (["3", "2", "4"], 1),
            ([{"label": "A", "text": "3"}, {"text": "2"}], "b"),
            ({"text": ["3", "2"], "label": [1, 2]}, 2),  # a label before a place
            (["3", "2"], 1.0),  # a number column with gaps: floats
            (["three", "two"], "Two")]:  # the answer as the option's text
        other = tmp_path / "other.jsonl"
        write_lines(other, [{"question": "1 + 1?", "choices": options, "answer": answer},
                            {"question": "2 + 2?", "choices": options}])
        (line,) = load_task(dataclasses.replace(config, path=str(other)), 0).test
        assert line.answer == "B"
        assert line.question.startswith("1 + 1?\nAnswer choices: (A) ")
    with pytest.raises(ConfigError, match=r"task.options_field is for task.answer_type = "
                                          r"\"choice\" \(it is 'text'\)"):
        load_config(None, ["task.kind=jsonl", f"task.path={tmp_path / 'train.jsonl'}",
                           "teacher.kind=reference", "task.options_field=choices"])
    unset = TaskConfig(kind="jsonl", path=str(tmp_path / "train.jsonl"),
                       answer_type="choice")
    assert all("Answer choices" not in e.question  # read where a field is named
               for e in load_task(unset, 0).pool)


def test_yes_and_no_are_read_however_a_file_spells_them():
    for written, word in [("Y", "yes"), ("n", "no"), ("TRUE", "yes"), ("No.", "no"),
                          ("Yes, since", "yes"), ("nope", None), ("n/a", None)]:
        assert normalize_answer(written, "yesno") == word


def _number_lines(count, start=0):
    return [json.dumps({"question": f"What is {i} + 1?", "answer": i + 1}).encode()
            for i in range(start, start + count)]


def _jsonl(path, test_size=3, *extra):
    return load_config(None, ["task.kind=jsonl", f"task.path={path}", "task.pool_size=150",
                              f"task.test_size={test_size}", "task.answer_type=number",
                              "teacher.kind=reference", *extra]).task


def test_a_line_that_is_not_utf8_is_named_and_skipped_only_when_allowed(tmp_path, caplog):
    path = tmp_path / "mine.jsonl"
    lines = _number_lines(8)
    lines[5] = b'{"question": "Caf\xe9 au lait?", "answer": 1}'  # Latin-1, not UTF-8
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ConfigError, match=r"mine.jsonl:6: not UTF-8 text \(byte 0xe9 at "
                       r"column 18\) \(task.skip_malformed=true skips such lines\)$"):
        load_task(_jsonl(path), 0)
    with caplog.at_level(logging.WARNING, logger="elad"):
        data = load_task(_jsonl(path, 3, "task.skip_malformed=true"), 0)
    assert "mine.jsonl:6: skipped: not UTF-8 text" in caplog.text
    assert len(data.pool) + len(data.test) == 7
    assert {e.id for e in data.pool + data.test} == {
        f"jsonl-all-{n:05d}" for n in (1, 2, 3, 4, 5, 7, 8)}  # ids keep the file's lines


def test_binary_garbage_and_empty_files_are_one_line_errors(tmp_path):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\n".join(_number_lines(2)) + b"\n" + bytes(range(256)) * 8)
    for options in ((), ("task.skip_malformed=true",)):
        with pytest.raises(ConfigError, match=r"model.bin:3: a NUL byte: this is a binary "
                                              r"file \(or UTF-16 text\), not UTF-8 JSON"):
            load_task(_jsonl(binary, 3, *options), 0)
    garbage = tmp_path / "garbage.jsonl"  # no NUL, no UTF-8: every line is malformed
    garbage.write_bytes(bytes(range(128, 256)) * 8 + b"\n" + bytes(range(200, 256)))
    with pytest.raises(ConfigError, match=r"garbage.jsonl:1: not UTF-8 text"):
        load_task(_jsonl(garbage), 0)
    with pytest.raises(ConfigError, match=r"garbage.jsonl: no question to read "
                                          r"\(2 malformed lines skipped\)$"):
        load_task(_jsonl(garbage, 3, "task.skip_malformed=true"), 0)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n \n")
    with pytest.raises(ConfigError, match=r"empty.jsonl: no question to read \(it is "
                                          r"empty\)$"):
        load_task(_jsonl(empty), 0)


def test_a_test_set_that_takes_every_line_leaves_an_empty_pool(tmp_path):
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"\n".join(_number_lines(5)))
    with pytest.raises(ConfigError, match=r"^task.test_size=300 takes all 5 questions: "
                                          r"nothing is left for the pool"):
        load_task(_jsonl(path, 300), 0)
    assert len(load_task(_jsonl(path, 4), 0).pool) == 1


def test_a_json_array_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "array.json"
    path.write_bytes(b'[\n{"question": "a?", "answer": 1},\n{"question": "\xff", '
                     b'"answer": 2}\n]\n')
    with pytest.raises(ConfigError, match=r"array.json:3: not UTF-8 text \(byte 0xff\)$"):
        list(json_items(path))
    path.write_bytes(b'\xef\xbb\xbf[{"question": "a?", "answer": 1}]')  # a UTF-8 BOM
    assert list(json_items(path)) == [(1, {"question": "a?", "answer": 1})]
