"""The ELAD loop (ELAD.md): a seed round, then rounds of
explain -> score -> select -> teacher -> train -> evaluate, until the budget is spent, the
pool is empty, the student has saturated or `max_rounds` is reached.

Resumable at any point: each phase's result goes to the run store (selection before the
teacher is asked, each teacher reply as it arrives, a student checkpoint after training,
the round record last), and every random choice is seeded from (seed, round, phase), so
a rerun repeats the same choices and finds its teacher replies in the store.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
import zlib
from pathlib import Path

from elad.answers import format_explanation
from elad.budget import Budget, teacher_prices
from elad.config import ConfigError, RunConfig
from elad.evaluate import accuracy
from elad.explain import explain_and_score
from elad.store import RunStore
from elad.strategies import rank, within_budget
from elad.student import load_student, new_student
from elad.student.hf import HFStudent
from elad.tasks import answer_type, load_task
from elad.teacher import make_teacher
from elad.teacher.cache import CachedTeacher
from elad.teacher.protocol import Teacher, TeacherUnavailable
from elad.types import Example, Explanation, RoundRecord, Score, Target

log = logging.getLogger("elad")


def phase_seed(config: RunConfig, round: int, phase: str) -> int:
    return zlib.crc32(f"{config.seed}/{round}/{phase}".encode())


def run(config: RunConfig, run_dir: Path, on_round=lambda record: None,
        show_progress: bool = False, teacher: Teacher | None = None,
        ) -> tuple[list[RoundRecord], CachedTeacher]:
    """Run (or resume, or just reread) the experiment in `run_dir`.

    `teacher` replaces the one the config names (tests use it to inject faults)."""
    store = open_run(run_dir, config)
    data = load_task(config.task, config.seed)
    store.add_examples("pool", data.pool)
    store.add_examples("test", data.test)
    teacher = CachedTeacher(teacher or make_teacher(config.teacher, config.task), store,
                            teacher_prices(config.teacher), config.teacher.concurrency,
                            show_progress)
    pool = {e.id: e for e in data.pool}
    records = store.rounds()
    if records and records[-1].stop_reason:
        return records, teacher

    for round in range(len(records), config.max_rounds + 1):
        budget = Budget(config.budget_usd, store.spent_usd(before_round=round))
        unlabeled = unlabeled_pool(store, data.pool)
        if round == 0:
            student = None
            selected = store.selection(0) or select_seed(config, teacher, unlabeled, budget)
        else:
            student = load_student(config.student, checkpoint(run_dir, round - 1), show_progress)
            selected = store.selection(round) or select_round(
                config, round, student, teacher, store, unlabeled, budget)
        if not selected and not records:
            raise ConfigError(f"budget_usd={config.budget_usd} does not cover one "
                              "teacher request")
        if not selected:
            stop(store, records[-1], "budget spent")
            break
        store.save_selection(round, selected)

        confirmed = ask_teacher(config, round, [pool[i] for i in selected], teacher, store,
                                budget)
        student = train(config, round, student, store, run_dir, show_progress)
        test_accuracy, by_task = accuracy(student, data.test, answer_type)

        record = round_record(config, round, store, test_accuracy, confirmed)
        record.stop_reason = stop_reason(config, round, record, teacher, store, data.pool,
                                         Budget(config.budget_usd, store.spent_usd()))
        log.info("round %d: accuracy %.3f by task %s", round, test_accuracy, by_task)
        store.save_round(record)
        records.append(record)
        on_round(record)
        if record.stop_reason:
            break
    return store.rounds(), teacher


def open_run(run_dir: Path, config: RunConfig) -> RunStore:
    """The run's store; a run directory holding a different config is an error."""
    run_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(run_dir / "run.sqlite")
    stored = store.get_meta("config")
    if stored is None:
        store.set_meta("config", config.to_json())
    elif stored != config.to_json():
        old, new = _flatten(json.loads(stored)), _flatten(config.to_dict())
        key = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        store.close()
        raise ConfigError(f"{run_dir} holds a run with {key}={old.get(key)!r}, not "
                          f"{new.get(key)!r}; use another --run-dir to change the config")
    return store


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unlabeled_pool(store: RunStore, pool: list[Example]) -> list[Example]:
    """Pool questions the teacher has not been asked about yet."""
    attempted = store.attempted_ids()
    return [e for e in pool if e.id not in attempted]


def checkpoint(run_dir: Path, round: int) -> Path:
    return run_dir / "checkpoints" / f"round-{round}"


def select_seed(config: RunConfig, teacher: CachedTeacher, unlabeled: list[Example],
                budget: Budget) -> list[str]:
    """Round 0: b0 random questions, to be annotated from scratch."""
    ids = sorted(e.id for e in unlabeled)
    random.Random(phase_seed(config, 0, "seed")).shuffle(ids)
    examples = {e.id: e for e in unlabeled}
    return within_budget(
        ids, config.seed_size,
        lambda i: teacher.worst_case_cost(annotate_request(teacher, examples[i])),
        budget.left)


def select_round(config: RunConfig, round: int, student: HFStudent,
                 teacher: CachedTeacher, store: RunStore, unlabeled: list[Example],
                 budget: Budget) -> list[str]:
    """Explain and score m candidates, rank them by the strategy, take b within budget."""
    rng = random.Random(phase_seed(config, round, "candidates"))
    candidates = rng.sample(unlabeled, min(config.candidates, len(unlabeled)))
    log.info("round %d: the student explains %d candidates (K=%d)", round,
             len(candidates), config.student.samples)
    started = time.perf_counter()
    scored = explain_and_score(student, candidates, answer_type, config.student.samples,
                               config.student.temperature, config.alpha,
                               phase_seed(config, round, "explain"))
    log.info("round %d: explained and scored in %.1fs", round, time.perf_counter() - started)
    store.save_scoring(round, scored.explanations, scored.confidences, scored.scores)
    ranked = [s.example_id for s in rank(config.strategy, scored.scores,
                                         phase_seed(config, round, "rank"))]
    by_id = {s.example_id: s for s in scored.scores}
    requests = {e.id: teacher_request(config, teacher, round, e, by_id[e.id],
                                      scored.explanations[e.id]) for e in candidates}
    similarity = None
    if config.max_similarity < 1:
        vectors = dict(zip([e.id for e in candidates],
                           student.embed([e.question for e in candidates])))
        similarity = lambda a, b: float(vectors[a] @ vectors[b])
    return within_budget(ranked, config.round_size,
                         lambda qid: teacher.worst_case_cost(requests[qid]), budget.left,
                         similarity, config.max_similarity)


def teacher_request(config: RunConfig, teacher: CachedTeacher, round: int,
                    example: Example, score: Score | None = None,
                    explanations: list[Explanation] | None = None) -> dict:
    """What the teacher is asked about one question: annotate it, or revise e* (the
    question's chosen explanation, given its score and K explanations)."""
    if round == 0 or config.mode == "annotate":
        return annotate_request(teacher, example)
    explanation = explanations[score.chosen]
    hint = score.least_stable_step if config.hint else None
    return teacher.request("revise", example.question, answer_type(example),
                           explanation.steps, explanation.answer, hint)


def annotate_request(teacher: CachedTeacher, example: Example) -> dict:
    return teacher.request("annotate", example.question, answer_type(example))


def ask_teacher(config: RunConfig, round: int, selected: list[Example],
                teacher: CachedTeacher, store: RunStore, budget: Budget) -> list[bool]:
    """Step 4: one teacher request per selected question, sent concurrently; each usable
    reply becomes a target. Returns, per revised question, whether the teacher confirmed
    it."""
    scored = round > 0 and config.mode == "revise"
    requests = [teacher_request(config, teacher, round, example,
                                store.scores(round, example.id)[0] if scored else None,
                                store.explanations(round, example.id) if scored else None)
                for example in selected]
    results = teacher.call_all([(r, e.id) for r, e in zip(requests, selected)], round,
                               budget)
    confirmed = []
    for example, request, result in zip(selected, requests, results):
        reply = result.reply
        if reply is None:
            log.warning("round %d: %s skipped, it no longer fits in the budget", round,
                        example.id)
            continue
        if not reply.ok:
            log.warning("round %d: teacher reply for %s not usable: %s", round,
                        example.id, reply.error)
            continue
        steps, is_confirmed = reply.steps, False
        if request["op"] == "revise":  # the student's steps before the first error stay
            is_confirmed = reply.first_error is None
            right = len(request["steps"]) if is_confirmed else reply.first_error - 1
            steps = request["steps"][:right] + reply.steps
            confirmed.append(is_confirmed)
        store.add_target(Target(example.id, example.question, steps, reply.answer, round,
                                is_confirmed))
    return confirmed


def train(config: RunConfig, round: int, student: HFStudent | None, store: RunStore,
          run_dir: Path, show_progress: bool) -> HFStudent:
    """Step 5: fine-tune on every target so far; the result is saved as this round's
    checkpoint (or loaded, if a killed run already saved it)."""
    path = checkpoint(run_dir, round)
    if path.exists():
        return load_student(config.student, path, show_progress)
    targets = store.targets(up_to_round=round)
    if not targets:
        raise TeacherUnavailable(f"no usable teacher reply for any of the round {round} "
                                 f"questions, nothing to train on; {first_failure(store)}")
    pairs = [(t.question, format_explanation(t.steps, t.answer)) for t in targets]
    steps = config.student.train_steps
    if student is None:
        corpus = [e.question for e in store.examples("pool")] + [p[1] for p in pairs]
        student = new_student(config.student, corpus, phase_seed(config, 0, "init"),
                              show_progress)
        steps = config.student.seed_train_steps
    log.info("round %d: training on %d targets for %d steps", round, len(pairs), steps)
    started = time.perf_counter()
    metrics = student.train(pairs, steps, config.student.learning_rate,
                            phase_seed(config, round, "train"),
                            batch_size=config.student.train_batch_size)
    log.info("round %d: trained in %.1fs, loss %.4f", round, time.perf_counter() - started,
             metrics["train_loss"])
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    student.save(partial)
    partial.rename(path)  # a checkpoint exists only once it is complete
    return student


def first_failure(store: RunStore) -> str:
    failures = store.teacher_failures()
    return f"the first failure: {failures[0]}" if failures else "no reply was recorded"


def round_record(config: RunConfig, round: int, store: RunStore, test_accuracy: float,
                 confirmed: list[bool]) -> RoundRecord:
    totals = store.call_totals(round)
    return RoundRecord(
        round=round, n_labeled=len(store.targets(up_to_round=round)),
        teacher_calls=totals["calls"], teacher_input_tokens=totals["input_tokens"],
        teacher_output_tokens=totals["output_tokens"], cost_usd=round_usd(totals["cost_usd"]),
        test_accuracy=test_accuracy,
        confirmed_fraction=sum(confirmed) / len(confirmed) if confirmed else None,
        strategy=config.strategy, mode=config.mode, seed=config.seed)


def round_usd(value: float) -> float:
    return float(f"{value:.8f}")


def stop_reason(config: RunConfig, round: int, record: RoundRecord, teacher: CachedTeacher,
                store: RunStore, pool: list[Example], budget: Budget) -> str:
    """Why the run stops after this round, or "" to go on (ELAD.md, step 7)."""
    if record.confirmed_fraction is not None and record.confirmed_fraction >= config.saturation:
        return "saturated"
    unlabeled = unlabeled_pool(store, pool)
    if not unlabeled:
        return "pool exhausted"
    cheapest = min(teacher.worst_case_cost(annotate_request(teacher, e)) for e in unlabeled)
    if not budget.fits(cheapest):
        return "budget spent"
    if round >= config.max_rounds:
        return "max rounds"
    return ""


def stop(store: RunStore, record: RoundRecord, reason: str) -> None:
    record.stop_reason = reason
    store.save_round(record)
