"""The ELAD loop (docs/concepts.md): a seed round, then rounds of
explain -> score -> select -> ask -> train -> evaluate -> stop, until the budget is spent,
the pool is empty, the student has saturated, `max_rounds` is reached or the forecast says
the next round's dollars buy too little (every reason: stopping.py). What each selected
question is asked is asking.py's; the values every phase reads are one `Run`
(context.py).

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
from pathlib import Path

from elad.answers import format_explanation
from elad.asking import (Requests, ranks_seed_round, round_requests, stored_requests,
                         teacher_request)
from elad.budget import Budget, round_quota, typical_costs, usd
from elad.config import ConfigError, RunConfig, StudentConfig
from elad.config_sections import explains_untrained
from elad.context import Run
from elad.evaluate import accuracy
from elad.run_forecast import forecast_record, label_free_signals, run_forecast
from elad.rundir import RunDir
from elad.scale.launch import launched, train_launched
from elad.scoring import score_candidates
from elad.seeding import phase_seed
from elad.stopping import fewest_left, round_verdicts, stop
from elad.store import RunStore
from elad.ranking import ranked_candidates
from elad.strategies import Admit, unlike_chosen, within_budget
from elad.student import check_student, load_student, new_student
from elad.student.protocol import Student
from elad.student.warm import rehearsed
from elad.tasks import answer_type
from elad.teacher.arithmetic import target_is_coherent
from elad.teacher.gateway import TeacherGateway, unasked
from elad.teacher.protocol import Teacher, TeacherUnavailable
from elad.tracking import trackers
from elad.types import Example, RoundRecord, Target, no_reply

log = logging.getLogger("elad")


def run(config: RunConfig, run_dir: Path, on_round=lambda record: None,
        teacher: Teacher | None = None,
        until_round: int | None = None) -> tuple[list[RoundRecord], TeacherGateway]:
    """Run (or resume, or just reread) the experiment in `run_dir`.

    `teacher` replaces the one the config names (tests use it to inject faults).
    `until_round` pauses the run after that round (`elad plan`): it stays resumable.
    Each finished round goes to the trackers of `config.report_to`, then to
    `on_round`."""
    with RunDir.create(run_dir, config) as rundir, \
            trackers(rundir.config, rundir) as track:
        config = rundir.config  # as stored: its file paths absolute

        def finished(record: RoundRecord) -> None:
            track(record)
            on_round(record)

        if not rundir.checkpoint(0).exists():  # nothing trained yet: before any request
            check_student(config.student)
        return _run(Run.start(config, rundir, teacher), finished, until_round)


def _run(run: Run, on_round, until_round: int | None = None,
         ) -> tuple[list[RoundRecord], TeacherGateway]:
    config, store = run.config, run.store
    run.rundir.save_config(run.stop)  # a grown run: does it go on?
    records = store.rounds()
    if records and records[-1].stop_reason:
        return records, run.gateway

    student: Student | None = None  # the last round's, in memory; loaded on resume
    last_round = config.max_rounds if until_round is None else min(config.max_rounds,
                                                                    until_round)
    for round in range(len(records), last_round + 1):
        budget = Budget(config.budget_usd, store.spent_usd(before_round=round))
        accuracy_before = None  # round 0: a student that explains untrained, tested first
        if round > 0 and student is None:
            student = load_student(config.student, run.rundir.checkpoint(round - 1))
        if round == 0 and explains_untrained(config.student):  # again if round 0
            # was trained but not recorded (a stop in between): the start row stays
            student = new_student(config.student, [], phase_seed(config, 0, "init"))
            accuracy_before = accuracy(student, run.test, answer_type)[0]
        requests = stored_requests(run, round)  # a resumed round asks what it selected
        if requests is None:
            requests = select(run, round, student, budget)
        if not requests and not records:
            raise ConfigError(f"budget_usd={config.budget_usd} does not cover one "
                              "teacher request")
        if requests:
            store.save_selection(round, list(requests))
        # none selected, or none fits what is left (a kill's lost requests held at their
        # worst case): the budget is spent, not a round bought that trains on nothing new
        if not requests or (not ask_teacher(run, round, requests, budget) and records):
            stop(store, records[-1], run.stop(records[-1], selected=False))
            break
        student, train_loss = train(run, round, student)
        test_accuracy, by_task = accuracy(student, run.test, answer_type)

        record = round_record(run, round, test_accuracy, by_task, train_loss,
                              accuracy_before)
        record.signals = label_free_signals(store, round, config.round_size)
        outlook = run_forecast([*records, record], len(run.test),
                               config.budget_usd - run.test_set_usd)  # rounds' share
        record.forecast = forecast_record(outlook)
        record.stop_reason = run.stop(record, outlook)
        log.info("round %d: accuracy %.3f by task %s", round, test_accuracy, by_task)
        store.save_round(record)
        records.append(record)
        on_round(record)
        if record.stop_reason:
            break
    return store.rounds(), run.gateway


def select(run: Run, round: int, student: Student | None, budget: Budget) -> Requests:
    """Steps 1-3: which questions the teacher is asked about this round, each with
    its request (asking.py). Round 0 is ranked like the others when the student can
    already explain (`ranks_seed_round`), else random."""
    if round == 0 and not ranks_seed_round(run.config):
        return select_seed(run, budget)
    return select_round(run, round, student, unasked(run.store, run.pool), budget)


def select_seed(run: Run, budget: Budget) -> Requests:
    """Round 0, unranked: b0 random questions, to be annotated from scratch. Nothing
    was asked before it; the replies a store may already hold (`elad bench`'s
    whole-pool reference starts with its seed round's) are found in the cache, not
    asked again."""
    ids = sorted(run.pool_by_id)
    random.Random(phase_seed(run.config, 0, "seed")).shuffle(ids)
    requests = {}

    def cost(qid: str) -> float:  # requests made only for the questions looked at
        requests[qid] = teacher_request(run.config, run.gateway, 0, run.pool_by_id[qid])
        return run.gateway.worst_case_cost(requests[qid])

    chosen = within_budget(ids, run.config.seed_size, cost, budget.left)
    say_if_cut(0, len(chosen), min(run.config.seed_size, len(ids)), budget.left)
    return {qid: requests[qid] for qid in chosen}


def say_if_cut(round: int, chosen: int, wanted: int, left: float) -> None:
    """Warn when the budget, not the round's size, set how many questions a round
    takes (quietly, a seed round of 20 became 8)."""
    if chosen < wanted:
        log.warning("round %d: %d of %d questions fit in what is left of the budget "
                    "(%s; each request holds its worst case until its reply: a lower "
                    "teacher.max_output_tokens holds less)", round, chosen, wanted,
                    usd(left))


def select_round(run: Run, round: int, student: Student, unlabeled: list[Example],
                 budget: Budget) -> Requests:
    """Explain and score m candidates (here, or on Ray actors that load the student from
    the last round's checkpoint; round 0's untrained student, here), rank them by the
    strategy, take b (round 0: b0) within budget."""
    config = run.config
    rng = random.Random(phase_seed(config, round, "candidates"))
    candidates = rng.sample(unlabeled, min(explained_count(config, round), len(unlabeled)))
    log.info("round %d: the student explains %d candidates (K=%d)", round,
             len(candidates), config.student.samples)
    started = time.perf_counter()
    scored = score_candidates(config, candidates, phase_seed(config, round, "explain"),
                              run.rundir.checkpoint(round - 1) if round else None, student)
    log.info("round %d: explained and scored in %.1fs", round, time.perf_counter() - started)
    run.store.save_scoring(round, scored.explanations, scored.confidences, scored.scores)
    requests = round_requests(run, round, candidates, scored)
    ranked = ranked_candidates(run, round, student, candidates, scored, requests)
    admit = None
    if config.max_similarity < 1:
        vectors = dict(zip([e.id for e in candidates],
                           student.embed([e.question for e in candidates])))
        admit = unlike_chosen(lambda a, b: float(vectors[a] @ vectors[b]),
                              config.max_similarity)
    chosen = affordable(run, round, ranked, requests, budget, admit)
    return {qid: requests[qid] for qid in chosen}


def explained_count(config: RunConfig, round: int) -> int:
    """m, the candidates the student explains (round 0: at least b0). A random choice
    needs no ranking, only its picks' explanations (their greedy answers say whether the
    teacher had anything to teach; to revise, their steps), so `random` explains at
    most two rounds' worth: enough for a last round that takes the rest of the budget
    (round_quota)."""
    if round == 0:
        return max(config.candidates, config.seed_size)
    if config.strategy == "random" and config.max_similarity >= 1:
        return min(config.candidates, 2 * config.round_size)
    return config.candidates


def affordable(run: Run, round: int, ranked: list[str], requests: Requests,
               budget: Budget, admit: Admit | None) -> list[str]:
    """The first b (round 0: b0) of `ranked` that fit in the budget, each counted at its
    typical cost (what replies of its kind have cost so far) with its worst case the
    hard cap; a round that would leave too little for another (half a round; the last
    round, a round) takes the rest of the budget (stopping.fewest_left), so every
    strategy spends the same money."""
    round_size = run.config.round_size if round else run.config.seed_size
    worst = {qid: run.gateway.worst_case_cost(r) for qid, r in requests.items()}
    typical = worst | typical_costs(requests, run.store.teacher_calls(), run.gateway.prices)
    top = [typical[qid] for qid in ranked[:round_size]]
    size = round_quota(round_size, fewest_left(run.config, round), budget.left,
                       sum(top) / max(1, len(top)))
    chosen = within_budget(ranked, size, worst.__getitem__, budget.left, admit,
                           typical.__getitem__)
    if admit is None:  # else fewer may be taken for their likeness, not the budget
        say_if_cut(round, len(chosen), min(round_size, len(ranked)), budget.left)
    return chosen


def ask_teacher(run: Run, round: int, requests: Requests, budget: Budget) -> bool:
    """Step 4: one teacher request per selected question, sent through the gateway
    (concurrently, or as one batch); each usable reply becomes a target, unless its
    steps compute a number other than its answer (a number task's target must lead to
    its answer). A later round none of whose requests got a reply (timed out, the
    connection lost: `no_reply`) stops the run, for a rerun to ask them again, rather
    than train on nothing new as if it had bought something; refusals and unusable
    replies do not (a rerun would meet them again). Returns whether any request fit in
    the budget."""
    results = run.gateway.call_all([(r, qid) for qid, r in requests.items()], round,
                                   budget)
    replies = [r.reply for r in results if r.reply is not None]
    if round > 0 and replies and all(no_reply(r) for r in replies):
        raise TeacherUnavailable(f"round {round}: no reply to any of its {len(replies)} "
                                 f"requests (the first: {replies[0].error}); nothing new "
                                 "to train on. The same command asks them again: a server "
                                 "that is up, or a longer teacher.timeout_s, lets them "
                                 "through")
    for (qid, request), result in zip(requests.items(), results):
        reply = result.reply
        if reply is None:
            log.warning("round %d: %s skipped, it no longer fits in the budget", round, qid)
            continue
        if not reply.ok:
            log.warning("round %d: teacher reply for %s not usable: %s", round, qid,
                        reply.error)
            continue
        no_wrong_step = request.op == "revise" and reply.first_error is None
        steps = request.target_steps(reply)
        if request.answer_type == "number" and not target_is_coherent(steps, reply.answer):
            log.warning("round %d: %s not trained on: its steps do not lead to its "
                        "answer %s", round, qid, reply.answer)
            continue
        run.store.add_target(Target(qid, request.question, steps, reply.answer, round,
                                    no_wrong_step))
    return any(result.reply is not None for result in results)


def train(run: Run, round: int, student: Student | None) -> tuple[Student, float | None]:
    """Step 5: fine-tune on every target so far; the result is saved as this round's
    checkpoint (or loaded, if a killed run already saved it). Returns the student and
    its training loss."""
    config, store, rundir = run.config, run.store, run.rundir
    if rundir.checkpoint(round).exists():
        return (load_student(config.student, rundir.checkpoint(round)),
                rundir.checkpoint_metrics(round).get("train_loss"))
    targets = store.targets(up_to_round=round)
    if not targets:
        raise TeacherUnavailable(f"no usable teacher reply for any of the round {round} "
                                 f"questions, nothing to train on; {first_failure(store)}. "
                                 "The same command asks again what got no reply or was "
                                 "refused, never a reply that was paid for (for that, "
                                 "another --run-dir)")
    pairs = [(t.question, format_explanation(t.steps, t.answer)) for t in targets]
    if config.student.warmup == "curriculum":  # a warm student keeps its lessons
        pairs = rehearsed(pairs, phase_seed(config, round, "rehearse"))
    steps = round_steps(config.student, len(pairs))
    if round == 0:  # from the untrained student that ranked round 0, or a new one
        if student is None:
            corpus = [e.question for e in run.pool] + [p[1] for p in pairs]
            student = new_student(config.student, corpus, phase_seed(config, 0, "init"))
        steps = config.student.seed_train_steps
    log.info("round %d: training on %d targets for %d steps", round, len(pairs), steps)
    started = time.perf_counter()
    if launched(config.scale):  # N processes; this one keeps the teacher and the store
        metrics = train_launched(config, round, student, pairs, steps, rundir)
        student = load_student(config.student, rundir.checkpoint(round))
    else:
        metrics = student.train(pairs, steps, config.student.learning_rate,
                                phase_seed(config, round, "train"),
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


def round_record(run: Run, round: int, test_accuracy: float, by_task: dict[str, float],
                 train_loss: float | None = None,
                 accuracy_before: float | None = None) -> RoundRecord:
    """The round's figures; `confirmed_fraction`: of its questions (after the seed round),
    the share where the teacher's answer was the student's (stopping.round_verdicts)."""
    config, store = run.config, run.store
    totals = store.call_totals(round)
    confirmed = round_verdicts(store, round)  # none in the seed round
    return RoundRecord(
        round=round, n_labeled=len(store.targets(up_to_round=round)),
        teacher_calls=totals["calls"], teacher_input_tokens=totals["input_tokens"],
        teacher_output_tokens=totals["output_tokens"], cost_usd=round_usd(totals["cost_usd"]),
        test_accuracy=test_accuracy,
        confirmed_fraction=sum(confirmed) / len(confirmed) if confirmed else None,
        strategy=config.strategy, mode=config.mode, seed=config.seed,
        test_accuracy_by_task=by_task, train_loss=train_loss,
        accuracy_before=accuracy_before)


def round_usd(value: float) -> float:
    return float(f"{value:.8f}")
