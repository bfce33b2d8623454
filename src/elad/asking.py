"""How a selected question is put to the teacher, and what that is expected to cost.

`mode=revise` asks the teacher to check the student's explanation e* and continue from
its first wrong step; `mode=annotate` asks for a whole explanation. A revision is cheaper
only when the student's first error comes late (the teacher writes less) or there is
none; when the error is at step 1 the teacher writes the whole explanation anyway and
also reads the student's. `mode=auto` decides per question by the expected cost of each
request, predicting the first error from the student's own signal: the first step in
which it gave a token a probability below `error_threshold` (uncertainty.
first_unsure_step).

Expected costs count tokens as `budget.count_tokens` does: the prompt as it is, and the
reply the teacher would write if its steps were as long as the student's (the student's
explanation stands in for the teacher's). They rank and choose; the budget itself always
reserves the worst case.
"""

from __future__ import annotations

import json

from elad.budget import Prices, count_tokens
from elad.teacher.request import TeacherRequest
from elad.types import Explanation
from elad.uncertainty import first_unsure_step


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
