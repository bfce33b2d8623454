"""The report's selected questions: for each, why it was chosen, the student's
explanation with its first wrong step, the teacher's reply and the training target."""

from __future__ import annotations

from dataclasses import dataclass

from elad.answers import ANSWER_CUE
from elad.config import RunConfig
from elad.reading.html_page import Markup, table, tag
from elad.store import RunStore
from elad.strategies import MIXED, RANKING
from elad.types import Score, Target, TeacherCall


@dataclass
class RoundShown:
    """What a round's selected questions are shown with: the round's candidates' scores
    (highest first), its teacher calls and the run's training targets, by question."""

    round: int
    scores: list[Score]
    calls: dict[str, TeacherCall]
    targets: dict[str, Target]


def explanation_lines(steps: list[str], answer: str | None) -> list[str]:
    """An explanation as the teacher sees it: the answer line is the last step."""
    return [*steps, f"{ANSWER_CUE} {answer if answer is not None else '(none)'}."]


def steps_list(lines: list[str], first: int = 1, wrong: int | None = None,
               unstable: int | None = None) -> Markup:
    """Numbered steps; the first wrong one marked, the ones after it struck out (the
    teacher's continuation replaces them), the least stable one flagged."""
    items = []
    for number, line in enumerate(lines, first):
        classes = []
        if wrong is not None and number == wrong:
            classes.append("wrong")
        if wrong is not None and number > wrong:
            classes.append("dropped")
        if unstable is not None and number == unstable:
            classes.append("unstable")
        items.append(tag("li", line, cls=" ".join(classes) or None))
    return tag("ol", *items, cls="steps", start=first)


def why_selected(config: RunConfig, score: Score, scores: list[Score],
                 position: int) -> Markup:
    """The question's numbers, and its place in its round by the run's strategy (a
    mixed one's ranking also weighs what the numbers alone do not show: the teacher's
    verdicts, the pool's coverage; then its place in the selection, and by u(q))."""
    strategy = config.strategy
    by = MIXED.get(strategy, strategy)  # a mixed strategy starts from its ranking's
    if by in RANKING:
        mine = RANKING[by](score)
        above = sum(RANKING[by](s) > mine for s in scores)
        place = f"ranked {above + 1} of {len(scores)} candidates by {by} ({mine:.3f})"
        if strategy in MIXED:
            place = f"pick {position} by {strategy}; {place}"
    else:
        place = f"drawn at random from {len(scores)} candidates"
    return table(["why", "u(q)", "u_inter", "U_intra", "least conf.", "K answers",
                  "greedy", "least stable step"],
                 [[place, f"{score.u:.3f}", f"{score.u_inter:.3f}",
                   f"{score.u_intra:.3f}", f"{score.least_confidence:.3f}",
                   ", ".join("-" if a is None else a for a in score.answers),
                   "-" if score.greedy_answer is None else score.greedy_answer,
                   score.least_stable_step or "-"]], text_columns=1)


def example_html(store: RunStore, config: RunConfig, shown: RoundShown, position: int,
                 qid: str) -> Markup:
    """One selected question: why it was chosen, the student's explanation with its
    first wrong step, the teacher's reply, and what the student is trained on."""
    call, target = shown.calls.get(qid), shown.targets.get(qid)
    question = call.request["question"] if call else (target.question if target else "")
    parts = [tag("p", f"{position}. ", tag("span", question, cls="question"),
                 tag("span", f"  ({qid})", cls="muted"))]
    score = next((s for s in shown.scores if s.example_id == qid), None)
    if score is not None:
        parts.append(why_selected(config, score, shown.scores, position))
    request = call.request if call else {}
    if request.get("op") == "revise":
        wrong = call.reply.first_error if call.ok else None
        parts += [tag("p", "The student's explanation, as sent to the teacher"
                           + (f" (hint: least stable step {request['hint']})"
                              if request.get("hint") else "") + ":"),
                  steps_list(explanation_lines(request["steps"], request["answer"]),
                             wrong=wrong, unstable=score.least_stable_step if score
                             else None)]
    elif score is not None:
        chosen = store.explanations(shown.round, qid)[score.chosen]
        parts += [tag("p", "The student's explanation (not sent: the teacher annotated "
                           "the question, writing the whole explanation):"),
                  steps_list(explanation_lines(chosen.steps, chosen.answer),
                             unstable=score.least_stable_step)]
    if call is None:
        parts.append(tag("p", "No teacher call recorded.", cls="muted"))
    else:
        parts.append(teacher_reply_html(call))
    if target is not None and request.get("op") == "revise":  # else: the annotation
        parts += [tag("p", "Training target" + (" (the student's own explanation, no "
                                                 "wrong step found)"
                                                 if target.no_wrong_step else "")
                      + ":"),
                  steps_list(explanation_lines(target.steps, target.answer))]
    return tag("div", *parts, cls="example")


def teacher_reply_html(call: TeacherCall) -> Markup:
    reply = call.reply
    cost = (f"{call.input_tokens} input + {call.output_tokens} output tokens, "
            f"${call.cost_usd:.6f}")
    if not call.ok:
        return tag("p", f"The teacher's reply could not be used ({call.error}); {cost}.")
    if call.op == "annotate":
        return Markup(tag("p", f"The teacher's explanation ({cost}):")
                      + steps_list(explanation_lines(reply.steps, reply.answer)))
    if reply.first_error is None:
        return tag("p", f"The teacher confirmed every step ({cost}).")
    first = reply.first_error
    return Markup(tag("p", f"The teacher: step {first} is the first wrong one; its "
                           f"continuation from there ({cost}):")
                  + steps_list(explanation_lines(reply.steps, reply.answer), first))
