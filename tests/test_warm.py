"""The warm student (student.warmup=curriculum): its curriculum, its cache, its setting
and a warm run end to end."""

import hashlib
import json

import pytest
import torch

import elad.student.warm as warm
from elad.config import ConfigError, load_config
from elad.loop import run
from elad.rundir import STORE
from elad.seeding import phase_seed
from elad.store import RunStore
from elad.strategies import rank
from elad.tasks import curriculum, synthetic

SMALL = {**warm.WARMUP, "questions": 60, "beginnings": 15, "corpus_questions": 30,
         "train_steps": 6}


def steps_of(question: str) -> int:
    return len(synthetic.solve(question)[0])


def test_curriculum_is_deterministic_short_and_covers_the_families():
    pairs = curriculum.curriculum(300, seed=0)
    assert pairs == curriculum.curriculum(300, seed=0)
    assert pairs != curriculum.curriculum(300, seed=1)
    assert len({q for q, _ in pairs}) == 300
    assert {steps_of(q) for q, _ in pairs} == {1, 2, 3}
    assert {synthetic.family_of(q) for q, _ in pairs} == set(synthetic.FAMILIES)
    question, text = pairs[0]
    assert text.endswith(f"The answer is {synthetic.solve(question)[1]}.")


def test_the_curriculum_begins_longer_chains_and_stops_before_step_4():
    pairs = curriculum.curriculum(90, seed=0, beginnings=30)
    short, begun = pairs[:90], pairs[90:]
    assert short == curriculum.curriculum(90, seed=0)  # the beginnings come after
    assert len(begun) == 30 and not {q for q, _ in short} & {q for q, _ in begun}
    assert {synthetic.family_of(q) for q, _ in begun} == set(synthetic.FAMILIES)
    for question, text in begun:
        steps = synthetic.solve(question)[0]
        assert len(steps) > max(curriculum.STEPS)
        assert text == "".join(f"{step}\n" for step in steps[:max(curriculum.STEPS)])
    assert len(warm.lessons_of(SMALL)) == SMALL["questions"] + SMALL["beginnings"]


def test_the_target_goes_past_the_curriculum():
    data = synthetic.load(list(synthetic.FAMILIES), 1500, 300, 0)
    lengths = {steps_of(e.question) for e in data.pool + data.test}
    assert max(lengths) > max(curriculum.STEPS)  # steps the warm student never saw
    assert lengths >= set(range(1, max(curriculum.STEPS) + 1))


def test_fine_tuning_a_warm_student_rehearses_the_curriculum():
    pairs = [(f"q{i}", f"a{i}") for i in range(50)]
    mixed = warm.rehearsed(pairs, seed=3, warmup=SMALL)
    assert mixed[:50] == pairs
    lessons = set(warm.lessons_of(SMALL))
    assert len(mixed) == 100 and set(mixed[50:]) <= lessons
    assert len(set(mixed[50:])) == 50
    assert mixed == warm.rehearsed(pairs, seed=3, warmup=SMALL)
    assert mixed != warm.rehearsed(pairs, seed=4, warmup=SMALL)
    many = [(f"q{i}", "a") for i in range(100)]  # more targets than lessons: all of them
    assert len(warm.rehearsed(many, seed=0, warmup=SMALL)) == 100 + len(lessons)


def test_the_default_warm_student_is_shipped_and_current():
    """The shipped checkpoint is what build_warm makes of today's WARMUP: a change to
    WARMUP or the default architecture without a rebuilt checkpoint fails here."""
    default = load_config(None, []).student
    shipped = warm.warm_dir(default)
    assert shipped.parent == warm.SHIPPED
    built_with = json.loads((shipped / "warmup.json").read_text())["warmup"]
    assert built_with == json.loads(json.dumps(warm.WARMUP))


def test_the_cold_default_pool_is_unchanged():
    data = synthetic.load(list(synthetic.FAMILIES), 300, 30, 0)
    text = "\n".join(e.question for e in data.pool + data.test)
    # the pool and test split of seed 0 before min_steps existed
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "c21bba272d4fb437"
    assert {steps_of(e.question) for e in data.pool} == {1, 2, 3, 4, 5, 6}


def test_the_warmup_setting_is_validated(tmp_path):
    assert load_config(None, []).student.warmup == "curriculum"  # warm is the default
    assert load_config(None, ["student.warmup=none"]).student.warmup == "none"
    hf = load_config(None, ["student.kind=hf", "student.model=x"])
    assert hf.student.warmup == "none"  # auto: a pretrained model is warm already
    (tmp_path / "q.jsonl").write_text('{"question": "1+1?", "answer": "2"}\n' * 4)
    data = load_config(None, ["task=jsonl", f"task.path={tmp_path / 'q.jsonl'}",
                              "teacher=reference", "seed_size=1", "round_size=1",
                              "candidates=1"])
    assert data.student.warmup == "none"  # the curriculum is the synthetic tasks'
    with pytest.raises(ConfigError, match="student.warmup.*one of"):
        load_config(None, ["student.warmup=pretrained"])
    with pytest.raises(ConfigError, match="student.warmup must be none unless"):
        load_config(None, ["student.warmup=curriculum", "student.kind=hf",
                           "student.model=x"])
    with pytest.raises(ConfigError, match="task.min_steps"):
        load_config(None, ["task.min_steps=0"])


def test_the_warm_student_is_built_once_then_loaded(tmp_path, monkeypatch, tiny_config):
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "a"))
    first = warm.warm_student(tiny_config.student, warmup=SMALL)
    assert (warm.warm_dir(tiny_config.student, SMALL) / "warmup.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the cached warm student was trained again")

    monkeypatch.setattr(warm, "build_warm", no_training)
    again = warm.warm_student(tiny_config.student, warmup=SMALL)
    for (name, a), b in zip(first.model.state_dict().items(),
                            again.model.state_dict().values()):
        assert torch.equal(a, b), name
    # another architecture is another student
    other = load_config(None, ["student.hidden_size=48", "student.heads=2"]).student
    assert warm.warm_key(other, SMALL) != warm.warm_key(tiny_config.student, SMALL)
    monkeypatch.undo()

    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "b"))  # built again elsewhere: same
    rebuilt = warm.warm_student(tiny_config.student, warmup=SMALL)
    for (name, a), b in zip(first.model.state_dict().items(),
                            rebuilt.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert first.tokenizer.to_str() == rebuilt.tokenizer.to_str()


def test_a_tiny_warm_run_goes_end_to_end(tmp_path, monkeypatch, tiny_overrides):
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(warm, "WARMUP", SMALL)
    config = load_config(None, [*tiny_overrides, "student.warmup=curriculum",
                                "max_rounds=1"])
    records, _ = run(config, tmp_path / "run")
    assert [r.round for r in records] == [0, 1]
    assert records[0].teacher_calls == config.seed_size  # the warm-up asked no teacher
    built = list((tmp_path / "cache" / "warm").glob("tiny-llama-32x2-*/warmup.json"))
    assert len(built) == 1
    assert (tmp_path / "run" / "checkpoints" / "round-1").is_dir()


def test_a_warm_students_round_0_is_ranked_and_its_start_measured(tmp_path, monkeypatch,
                                                                     tiny_overrides):
    """A student that explains before any training ranks round 0 by the strategy (the
    top b0 of its scores are asked) and, in mode revise, the teacher revises its
    explanations; its accuracy before any target is recorded. rank_seed_round=false
    takes random questions and annotates them, the start still measured."""
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(warm, "WARMUP", SMALL)
    warm_run = [*tiny_overrides, "student.warmup=curriculum", "max_rounds=0",
                "strategy=entropy", "candidates=40", "cost_aware=false"]  # the ranking alone
    records, _ = run(load_config(None, warm_run), tmp_path / "ranked")
    unranked, _ = run(load_config(None, [*warm_run, "rank_seed_round=false"]),
                      tmp_path / "random")
    with RunStore(tmp_path / "ranked" / STORE) as store:
        scores = store.scores(0)
        selected = store.selection(0)
        calls = store.teacher_calls(0)
        sent = {call.example_id: call.request["steps"] for call in calls}
        explained = {s.example_id: store.explanations(0, s.example_id)[s.chosen].steps
                     for s in scores if s.example_id in sent}
    assert {call.op for call in calls} == {"revise"}
    assert sent == explained  # each question's chosen explanation
    assert len(scores) == 40
    seed = phase_seed(load_config(None, warm_run), 0, "rank")
    by_entropy = [s.example_id for s in rank("entropy", scores, seed)]
    assert selected == by_entropy[:16]
    assert 0 <= records[0].accuracy_before <= 1
    assert unranked[0].accuracy_before == records[0].accuracy_before  # same student, test
    with RunStore(tmp_path / "random" / STORE) as store:
        assert store.scores(0) == [] and len(store.selection(0)) == 16
        assert {call.op for call in store.teacher_calls(0)} == {"annotate"}
        assert set(store.selection(0)) != set(selected)


def test_a_stop_between_round_0s_training_and_its_record_keeps_the_start_row(
        tmp_path, monkeypatch, tiny_overrides):
    """Stopped after round 0's checkpoint was saved and before its record (a kill, or
    Ctrl-C, at that moment), the rerun still tests the untrained student: before, the
    start row was gone for good (and a bench's area began at accuracy 0)."""
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(warm, "WARMUP", SMALL)
    config = load_config(None, [*tiny_overrides, "student.warmup=curriculum", "max_rounds=0"])
    unsaved = []  # the record the stopped run was about to save

    def stopped_here(store, record):
        unsaved.append(record)
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(RunStore, "save_round", stopped_here)
        with pytest.raises(KeyboardInterrupt):
            run(config, tmp_path / "stopped")
    assert (tmp_path / "stopped" / "checkpoints" / "round-0").is_dir()
    resumed, _ = run(config, tmp_path / "stopped")
    assert unsaved[0].accuracy_before is not None
    assert resumed[0].accuracy_before == unsaved[0].accuracy_before
    assert resumed[0].test_accuracy == unsaved[0].test_accuracy  # the same checkpoint



def test_those_asking_for_the_same_cache_folder_build_it_once(tmp_path):
    """A bench's workers (or two runs started together) on a fresh machine all need the
    warm student or the Gemma checkpoint: one builds it, the others wait and read it
    (before, Gemma's conversion had no lock: both wrote one partial folder). Threads
    here: each opens the lock file itself, so they exclude each other as processes do."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from elad.student.pretrained import cached

    target = tmp_path / "cache" / "model"
    builds = []

    def build_slowly(folder):
        builds.append(folder)
        time.sleep(0.5)
        partial = folder.with_name(folder.name + ".partial")
        partial.mkdir()
        (partial / "done").write_text("yes")
        partial.rename(folder)

    with ThreadPoolExecutor(3) as pool:
        found = list(pool.map(lambda _: (cached(target, "done", build_slowly) / "done")
                              .read_text(), range(3)))
    assert found == ["yes"] * 3 and builds == [target]
