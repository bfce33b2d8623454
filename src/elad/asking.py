"""What each selected question puts to the teacher, and what that is expected to cost.

`mode=revise` asks the teacher to check the student's explanation e* and continue from
its first wrong step; `mode=annotate` asks for a whole explanation. A revision is cheaper
only when the student's first error comes late (the teacher writes less) or there is
none; when the error is at step 1 the teacher writes the whole explanation anyway and
also reads the student's. `mode=auto` decides per question by the expected cost of each
request, predicting the first error from the student's own signal: the first step in
which it gave a token a probability below `error_threshold` (uncertainty.
first_unsure_step). The seed round (round 0) annotates unless a student that explains
before any training (a warm or pretrained one) ranked it (`ranks_seed_round`): then it has
explanations to revise, and a revision saves most where that student goes wrong late.

Expected costs count tokens as `budget.count_tokens` does: the prompt as it is, and the
reply the teacher would write if its steps were as long as the student's (the student's
explanation stands in for the teacher's). They rank (`cost_aware`) and choose between
annotate and revise (`mode=auto`); selection plans with `budget.typical_costs`, and the
budget itself always reserves the worst case.

A resumed round makes its requests again from its stored selection and scores
(`stored_requests`): the same requests, so the same cache keys, and no reply already
paid for is asked again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from elad.budget import Prices, count_tokens
from elad.config import RunConfig
from elad.config_sections import explains_untrained
from elad.tasks import answer_type
from elad.teacher.gateway import TeacherGateway, annotate_request
from elad.teacher.protocol import Teacher
from elad.teacher.request import TeacherRequest
from elad.types import Example, Explanation, Score
from elad.uncertainty import first_unsure_step

if TYPE_CHECKING:
    from elad.context import Run
    from elad.explain import Scored

Requests = dict[str, TeacherRequest]  # selected question id -> what the teacher is asked


def ranks_seed_round(config: RunConfig) -> bool:
    """Whether round 0's questions are ranked by the strategy: asked for, and a
    student that explains before any training (a warm or pretrained one) to rank
    them with. A student from scratch would rank at random anyway."""
    return (config.rank_seed_round and config.strategy != "random"
            and explains_untrained(config.student))


def revises(config: RunConfig, round: int) -> bool:
    """Whether this round may ask for revisions: mode revise or auto, and a round whose
    candidates the student explained (after round 0, or a ranked round 0): its requests
    carry the student's explanations."""
    return config.mode != "annotate" and (round > 0 or ranks_seed_round(config))


def round_requests(run: Run, round: int, candidates: list[Example],
                   scored: Scored) -> Requests:
    """Round `round`'s request for each of its scored candidates (before selection: the
    worst case of each decides what fits in the budget)."""
    by_id = {s.example_id: s for s in scored.scores}
    return {e.id: teacher_request(run.config, run.gateway, round, e, by_id[e.id],
                                  scored.explanations[e.id]) for e in candidates}


def stored_requests(run: Run, round: int) -> Requests | None:
    """A resumed round's requests (None when the round has not selected yet): those
    already answered, or sent in a batch, as they were sent; the others made again from
    the stored selection and scores. Either way the same cache keys, even where this
    version of elad would ask differently (a round begun under an earlier one): no
    answered question is paid for twice, nor one a batch still running has asked."""
    selected = run.store.selection(round)
    if selected is None:
        return None
    stored = run.store.batched_requests(round) | {  # answered ones: as they were paid
        call.example_id: call.request for call in run.store.teacher_calls(round) if call.ok}
    sent = {qid: TeacherRequest.from_dict(request) for qid, request in stored.items()}
    scored = revises(run.config, round)
    return {qid: sent.get(qid) or teacher_request(
                run.config, run.gateway, round, run.pool_by_id[qid],
                run.store.scores(round, qid)[0] if scored else None,
                run.store.explanations(round, qid) if scored else None)
            for qid in selected}


def teacher_request(config: RunConfig, gateway: TeacherGateway, round: int,
                    example: Example, score: Score | None = None,
                    explanations: list[Explanation] | None = None) -> TeacherRequest:
    """What the teacher is asked about one question: annotate it, or revise e* (the
    question's chosen explanation, given its score and K explanations), or, in mode
    auto, whichever is expected to cost less (`cheaper`)."""
    if not revises(config, round):
        return annotate_request(gateway.teacher, example, config.task.labels)
    revise = revise_request(config, gateway.teacher, example, score, explanations)
    if config.mode == "revise":
        return revise
    return cheaper(annotate_request(gateway.teacher, example, config.task.labels), revise,
                   explanations[score.chosen], config.error_threshold, gateway.prices)


def revise_request(config: RunConfig, teacher: Teacher, example: Example, score: Score,
                   explanations: list[Explanation]) -> TeacherRequest:
    """The request to revise e*, the question's chosen explanation, with the hint of its
    least stable step when `config.hint`."""
    explanation = explanations[score.chosen]
    hint = score.least_stable_step if config.hint else None
    return TeacherRequest.revise(teacher.identity(), example.question, answer_type(example),
                                 explanation, hint, config.task.labels)


def expected_costs(run: Run, requests: Requests, scored: Scored) -> dict[str, float]:
    """Each request's expected dollars, given its question's chosen explanation
    (`cost_aware` ranks by value per expected dollar)."""
    by_id = {s.example_id: s for s in scored.scores}
    return {qid: expected_cost(request, scored.explanations[qid][by_id[qid].chosen],
                               run.config.error_threshold, run.gateway.prices)
            for qid, request in requests.items()}


def expected_cost(request: TeacherRequest, explanation: Explanation, threshold: float,
                  prices: Prices) -> float:
    """The dollars `request` is expected to cost, given the student's explanation e*."""
    answer = explanation.answer or "?"
    if request.op == "annotate":
        reply = {"steps": explanation.steps, "answer": answer}
    else:
        first = first_unsure_step(explanation.token_confidence, threshold)
        reply = {"first_error": first,
                 "continuation": [] if first is None else explanation.steps[first - 1:],
                 "answer": answer}
    return prices.cost(count_tokens(request.prompt), count_tokens(json.dumps(reply)))


def cheaper(annotate: TeacherRequest, revise: TeacherRequest, explanation: Explanation,
            threshold: float, prices: Prices) -> TeacherRequest:
    """mode=auto: the request expected to cost less (revise when they tie)."""
    if expected_cost(revise, explanation, threshold, prices) <= \
            expected_cost(annotate, explanation, threshold, prices):
        return revise
    return annotate
