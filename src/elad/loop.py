"""The ELAD loop (ELAD.md): a seed round, then rounds of
explain -> score -> select -> teacher -> train -> evaluate, until the budget is spent, the
pool is empty, the student has saturated, `max_rounds` is reached or the forecast says the
next round's dollars buy too little (`stop_gain_per_usd`, run_forecast.py).

Resumable at any point: each phase's result goes to the run directory (selection before
the teacher is asked, each teacher reply as it arrives, a student checkpoint after
training, the round record last), and every random choice is seeded from (seed, round,
phase), so a rerun repeats the same choices and finds its teacher replies in the store.
"""

from __future__ import annotations

import logging
import math
import random
import time
import zlib
from pathlib import Path

from elad.answers import format_explanation
from elad.asking import cheaper, expected_cost
from elad.adaptive import adaptive_ranking, student_was_right
from elad.budget import Budget, expected_costs, mean_cost, round_quota, teacher_prices
from elad.config import ConfigError, RunConfig, StudentConfig
from elad.evaluate import accuracy
from elad.scoring import score_candidates
from elad.forecast import Forecast
from elad.launch import launched, train_launched
from elad.run_forecast import forecast_record, label_free_signals, rule_stops, run_forecast
from elad.rundir import RunDir
from elad.store import RunStore
from elad.strategies import rank, unlike_chosen, with_random_share, within_budget
from elad.student import load_student, new_student
from elad.student.protocol import Student
from elad.tasks import answer_type, load_task
from elad.teacher import make_teacher
from elad.teacher.arithmetic import target_is_coherent
from elad.teacher.cache import CachedTeacher
from elad.teacher.protocol import Teacher, TeacherUnavailable
from elad.teacher.request import TeacherRequest
from elad.tracking import trackers
from elad.types import Example, Explanation, RoundRecord, Score, StopReason, Target

log = logging.getLogger("elad")

Requests = dict[str, TeacherRequest]  # selected question id -> what the teacher is asked


def phase_seed(config: RunConfig, round: int, phase: str) -> int:
    return zlib.crc32(f"{config.seed}/{round}/{phase}".encode())


def run(config: RunConfig, run_dir: Path, on_round=lambda record: None,
        show_progress: bool = False, teacher: Teacher | None = None,
        until_round: int | None = None) -> tuple[list[RoundRecord], CachedTeacher]:
    """Run (or resume, or just reread) the experiment in `run_dir`.

    `teacher` replaces the one the config names (tests use it to inject faults).
    `until_round` pauses the run after that round (`elad plan`): it stays resumable.
    Each finished round goes to the trackers of `config.report_to`, then to
    `on_round`."""
    with RunDir.create(run_dir, config) as rundir, trackers(config, rundir) as track:
        def finished(record: RoundRecord) -> None:
            track(record)
            on_round(record)

        return _run(config, rundir, finished, show_progress, teacher, until_round)


def _run(config: RunConfig, rundir: RunDir, on_round, show_progress: bool,
         teacher: Teacher | None, until_round: int | None = None,
         ) -> tuple[list[RoundRecord], CachedTeacher]:
    store = rundir.store
    data = load_task(config.task, config.seed)
    store.add_examples("pool", data.pool)
    store.add_examples("test", data.test)
    teacher = CachedTeacher(teacher or make_teacher(config.teacher, config.task), store,
                            teacher_prices(config.teacher), config.teacher.concurrency,
                            show_progress, batch=config.teacher.batch)
    pool = {e.id: e for e in data.pool}
    rundir.save_config(lambda last: stop_reason(  # a grown run: does it go on?
        config, last.round, last, teacher, store, data.pool,
        Budget(config.budget_usd, store.spent_usd())))
    records = store.rounds()
    if records and records[-1].stop_reason:
        return records, teacher

    student: Student | None = None  # the last round's, in memory; loaded on resume
    last_round = config.max_rounds if until_round is None else min(config.max_rounds,
                                                                    until_round)
    for round in range(len(records), last_round + 1):
        budget = Budget(config.budget_usd, store.spent_usd(before_round=round))
        if round > 0 and student is None:
            student = load_student(config.student, rundir.checkpoint(round - 1),
                                   show_progress)
        requests = stored_requests(config, round, pool, teacher, store)
        if requests is None:
            unlabeled = unlabeled_pool(store, data.pool)
            requests = (select_seed(config, teacher, unlabeled, budget) if round == 0 else
                        select_round(config, round, student, teacher, store, unlabeled,
                                     budget, rundir.checkpoint(round - 1), show_progress))
        if not requests and not records:
            raise ConfigError(f"budget_usd={config.budget_usd} does not cover one "
                              "teacher request")
        if not requests:
            stop(store, records[-1], StopReason.BUDGET_SPENT)
            break
        store.save_selection(round, list(requests))

        confirmed = ask_teacher(config, round, requests, teacher, store, budget)
        student, train_loss = train(config, round, student, store, rundir, show_progress)
        test_accuracy, by_task = accuracy(student, data.test, answer_type)

        record = round_record(config, round, store, test_accuracy, by_task, confirmed,
                              train_loss)
        record.signals = label_free_signals(store, round, config.round_size)
        outlook = run_forecast([*records, record], len(data.test), config.budget_usd)
        record.forecast = forecast_record(outlook)
        record.stop_reason = stop_reason(config, round, record, teacher, store, data.pool,
                                         Budget(config.budget_usd, store.spent_usd()),
                                         outlook)
        log.info("round %d: accuracy %.3f by task %s", round, test_accuracy, by_task)
        store.save_round(record)
        records.append(record)
        on_round(record)
        if record.stop_reason:
            break
    return store.rounds(), teacher


def unlabeled_pool(store: RunStore, pool: list[Example]) -> list[Example]:
    """Pool questions the teacher has not been asked about yet."""
    attempted = store.attempted_ids()
    return [e for e in pool if e.id not in attempted]


def select_seed(config: RunConfig, teacher: CachedTeacher, unlabeled: list[Example],
                budget: Budget) -> Requests:
    """Round 0: b0 random questions, to be annotated from scratch."""
    ids = sorted(e.id for e in unlabeled)
    random.Random(phase_seed(config, 0, "seed")).shuffle(ids)
    examples, requests = {e.id: e for e in unlabeled}, {}

    def cost(qid: str) -> float:  # requests made only for the questions looked at
        requests[qid] = annotate_request(teacher, examples[qid])
        return teacher.worst_case_cost(requests[qid])

    chosen = within_budget(ids, config.seed_size, cost, budget.left)
    return {qid: requests[qid] for qid in chosen}


def select_round(config: RunConfig, round: int, student: Student,
                 teacher: CachedTeacher, store: RunStore, unlabeled: list[Example],
                 budget: Budget, checkpoint: Path, show_progress: bool = False) -> Requests:
    """Explain and score m candidates (here, or on Ray actors that load the student from
    its `checkpoint`), rank them by the strategy, take b within budget."""
    rng = random.Random(phase_seed(config, round, "candidates"))
    candidates = rng.sample(unlabeled, min(config.candidates, len(unlabeled)))
    log.info("round %d: the student explains %d candidates (K=%d)", round,
             len(candidates), config.student.samples)
    started = time.perf_counter()
    scored = score_candidates(config, candidates, phase_seed(config, round, "explain"),
                              checkpoint, student, show_progress)
    log.info("round %d: explained and scored in %.1fs", round, time.perf_counter() - started)
    store.save_scoring(round, scored.explanations, scored.confidences, scored.scores)
    by_id = {s.example_id: s for s in scored.scores}
    requests = {e.id: teacher_request(config, teacher, round, e, by_id[e.id],
                                      scored.explanations[e.id]) for e in candidates}
    costs = None
    if config.cost_aware:  # rank by value per expected dollar
        costs = {qid: expected_cost(request, scored.explanations[qid][by_id[qid].chosen],
                                    config.error_threshold, teacher.prices)
                 for qid, request in requests.items()}
    ranked = [s.example_id for s in rank(config.strategy, scored.scores,
                                         phase_seed(config, round, "rank"), costs)]
    if config.strategy == "adaptive":  # coverage of the pool mixed in (coverage.py)
        ranked = adaptive_ranking(student, store, candidates, scored.scores, ranked,
                                  phase_seed(config, round, "clusters"))
    if config.strategy != "random":  # random needs no random share
        ranked = with_random_share(ranked, config.explore,
                                   phase_seed(config, round, "explore"))
    admit = None
    if config.max_similarity < 1:
        vectors = dict(zip([e.id for e in candidates],
                           student.embed([e.question for e in candidates])))
        admit = unlike_chosen(lambda a, b: float(vectors[a] @ vectors[b]),
                              config.max_similarity)
    worst = {qid: teacher.worst_case_cost(request) for qid, request in requests.items()}
    expected = worst | expected_costs(requests, store.teacher_calls(), teacher.prices)
    top = [expected[qid] for qid in ranked[:config.round_size]]
    size = round_quota(config.round_size, half_round(config), budget.left,
                       sum(top) / max(1, len(top)))
    chosen = within_budget(ranked, size, worst.__getitem__, budget.left, admit,
                           expected.__getitem__)
    return {qid: requests[qid] for qid in chosen}


def stored_requests(config: RunConfig, round: int, pool: dict[str, Example],
                    teacher: CachedTeacher, store: RunStore) -> Requests | None:
    """A resumed round's requests, made again from its stored selection and scores
    (None when the round has not selected yet)."""
    selected = store.selection(round)
    if selected is None:
        return None
    scored = round > 0 and config.mode != "annotate"
    return {qid: teacher_request(config, teacher, round, pool[qid],
                                 store.scores(round, qid)[0] if scored else None,
                                 store.explanations(round, qid) if scored else None)
            for qid in selected}


def teacher_request(config: RunConfig, teacher: CachedTeacher, round: int,
                    example: Example, score: Score | None = None,
                    explanations: list[Explanation] | None = None) -> TeacherRequest:
    """What the teacher is asked about one question: annotate it, or revise e* (the
    question's chosen explanation, given its score and K explanations), or, in mode
    auto, whichever is expected to cost less (asking.cheaper)."""
    if round == 0 or config.mode == "annotate":
        return annotate_request(teacher, example)
    explanation = explanations[score.chosen]
    hint = score.least_stable_step if config.hint else None
    revise = teacher.revise_request(example.question, answer_type(example),
                                    explanation.steps, explanation.answer, hint)
    if config.mode == "revise":
        return revise
    return cheaper(annotate_request(teacher, example), revise, explanation,
                   config.error_threshold, teacher.prices)


def annotate_request(teacher: CachedTeacher, example: Example) -> TeacherRequest:
    return teacher.annotate_request(example.question, answer_type(example))


def ask_teacher(config: RunConfig, round: int, requests: Requests, teacher: CachedTeacher,
                store: RunStore, budget: Budget) -> list[bool]:
    """Step 4: one teacher request per selected question, sent concurrently; each usable
    reply becomes a target, unless its steps compute a number other than its answer
    (a number task's target must lead to its answer). Returns, per question of a round
    after the seed round, whether the teacher had nothing to teach: it confirmed the
    student's explanation, or annotated the question with the student's own answer."""
    results = teacher.call_all([(r, qid) for qid, r in requests.items()], round, budget)
    confirmed = []
    for (qid, request), result in zip(requests.items(), results):
        reply = result.reply
        if reply is None:
            log.warning("round %d: %s skipped, it no longer fits in the budget", round, qid)
            continue
        if not reply.ok:
            log.warning("round %d: teacher reply for %s not usable: %s", round, qid,
                        reply.error)
            continue
        is_confirmed = request.op == "revise" and reply.first_error is None
        if round > 0:
            confirmed.append(is_confirmed or student_was_right(store, round, qid, reply))
        steps = request.target_steps(reply)
        if request.answer_type == "number" and not target_is_coherent(steps, reply.answer):
            log.warning("round %d: %s not trained on: its steps do not lead to its "
                        "answer %s", round, qid, reply.answer)
            continue
        store.add_target(Target(qid, request.question, steps, reply.answer, round,
                                is_confirmed))
    return confirmed


def train(config: RunConfig, round: int, student: Student | None, store: RunStore,
          rundir: RunDir, show_progress: bool) -> tuple[Student, float | None]:
    """Step 5: fine-tune on every target so far; the result is saved as this round's
    checkpoint (or loaded, if a killed run already saved it). Returns the student and
    its training loss."""
    if rundir.checkpoint(round).exists():
        return (load_student(config.student, rundir.checkpoint(round), show_progress),
                rundir.checkpoint_metrics(round).get("train_loss"))
    targets = store.targets(up_to_round=round)
    if not targets:
        raise TeacherUnavailable(f"no usable teacher reply for any of the round {round} "
                                 f"questions, nothing to train on; {first_failure(store)}")
    pairs = [(t.question, format_explanation(t.steps, t.answer)) for t in targets]
    steps = round_steps(config.student, len(pairs))
    if student is None:
        corpus = [e.question for e in store.examples("pool")] + [p[1] for p in pairs]
        student = new_student(config.student, corpus, phase_seed(config, 0, "init"),
                              show_progress)
        steps = config.student.seed_train_steps
    log.info("round %d: training on %d targets for %d steps", round, len(pairs), steps)
    started = time.perf_counter()
    seed = phase_seed(config, round, "train")
    if launched(config.scale):  # N processes; this one keeps the teacher and the store
        metrics = train_launched(config, round, student, pairs, steps, seed, rundir)
        student = load_student(config.student, rundir.checkpoint(round), show_progress)
    else:
        metrics = student.train(pairs, steps, config.student.learning_rate, seed,
                                batch_size=config.student.train_batch_size)
        rundir.save_checkpoint(round, student.save, metrics)
    log.info("round %d: trained in %.1fs, loss %.4f", round, time.perf_counter() - started,
             metrics["train_loss"])
    return student, metrics["train_loss"]


def round_steps(config: StudentConfig, n_targets: int) -> int:
    """Optimizer steps of a round after the seed round: `train_steps`, or more when
    `train_epochs` passes over the targets take more, so that the student learns what
    its data can teach and not how many rounds it has had."""
    epochs = math.ceil(config.train_epochs * n_targets / config.train_batch_size)
    return max(config.train_steps, epochs)


def first_failure(store: RunStore) -> str:
    failures = store.teacher_failures()
    return f"the first failure: {failures[0]}" if failures else "no reply was recorded"


def round_record(config: RunConfig, round: int, store: RunStore, test_accuracy: float,
                 by_task: dict[str, float], confirmed: list[bool],
                 train_loss: float | None = None) -> RoundRecord:
    totals = store.call_totals(round)
    return RoundRecord(
        round=round, n_labeled=len(store.targets(up_to_round=round)),
        teacher_calls=totals["calls"], teacher_input_tokens=totals["input_tokens"],
        teacher_output_tokens=totals["output_tokens"], cost_usd=round_usd(totals["cost_usd"]),
        test_accuracy=test_accuracy,
        confirmed_fraction=sum(confirmed) / len(confirmed) if confirmed else None,
        strategy=config.strategy, mode=config.mode, seed=config.seed,
        test_accuracy_by_task=by_task, train_loss=train_loss)


def round_usd(value: float) -> float:
    return float(f"{value:.8f}")


def stop_reason(config: RunConfig, round: int, record: RoundRecord, teacher: CachedTeacher,
                store: RunStore, pool: list[Example], budget: Budget,
                outlook: Forecast | None = None) -> StopReason:
    """Why the run stops after this round, or NOT_STOPPED (ELAD.md, step 7). The
    forecast rule comes last: it is named only when it ends a run that could go on."""
    if record.confirmed_fraction is not None and record.confirmed_fraction >= config.saturation:
        return StopReason.SATURATED
    unlabeled = unlabeled_pool(store, pool)
    if not unlabeled:
        return StopReason.POOL_EXHAUSTED
    per_request = mean_cost(store.teacher_calls(round))  # what the last round paid
    if per_request is None:
        per_request = min(teacher.worst_case_cost(annotate_request(teacher, e))
                          for e in unlabeled)
    if not budget.fits(per_request * half_round(config)):  # no rounds of a few questions
        return StopReason.BUDGET_SPENT
    if round >= config.max_rounds:
        return StopReason.MAX_ROUNDS
    if rule_stops(outlook, config.stop_gain_per_usd):
        return StopReason.LOW_GAIN
    return StopReason.NOT_STOPPED


def half_round(config: RunConfig) -> int:
    """The fewest questions a round after this one may be worth: what is left of the
    budget must cover this many requests at what the last round paid per request, or
    the run stops (and the round before takes the rest: budget.round_quota).
    A round of a few questions would still train the student for a whole round (more
    steps on the same data), and its accuracy would not be bought with teacher money."""
    return max(1, config.round_size // 2)


def stop(store: RunStore, record: RoundRecord, reason: StopReason) -> None:
    record.stop_reason = reason
    store.save_round(record)
