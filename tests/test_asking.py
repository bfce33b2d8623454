"""mode=auto: annotate where the student is unsure from the start, revise where its
first unsure step comes late; expected costs from the prompt and the reply's shape."""

from elad.asking import cheaper, expected_cost
from elad.budget import Prices
from elad.teacher.request import TeacherRequest
from elad.types import Explanation

Q = "Start with 3. First, add 4. Second, subtract 6. Third, add 2. What is the result?"
STEPS = ["First, add 4: 3 + 4 = 7", "Second, subtract 6: 7 - 6 = 1",
         "Third, add 2: 1 + 2 = 3"]
PRICES = Prices(2.5, 10.0)
TEACHER = {"teacher": "oracle"}


def requests(explanation):
    return (TeacherRequest.annotate(TEACHER, Q, "number"),
            TeacherRequest.revise(TEACHER, Q, "number", explanation, None))


def test_unsure_at_step_one_is_annotated_sure_until_late_is_revised():
    early = Explanation(STEPS, "3", token_confidence=[0.3, 0.99, 0.99, 0.99])
    late = Explanation(STEPS, "3", token_confidence=[0.99, 0.99, 0.99, 0.4])
    sure = Explanation(STEPS, "3", token_confidence=[0.99, 0.99, 0.99, 0.99])
    assert cheaper(*requests(early), early, 0.9, PRICES).op == "annotate"
    assert cheaper(*requests(late), late, 0.9, PRICES).op == "revise"
    assert cheaper(*requests(sure), sure, 0.9, PRICES).op == "revise"
    # a lower threshold trusts the student more: step 1's 0.3 is then not an error
    assert cheaper(*requests(early), early, 0.2, PRICES).op == "revise"


def test_expected_cost_counts_the_prompt_and_the_reply_it_would_get():
    sure = Explanation(STEPS, "3", token_confidence=[0.99] * 4)
    annotate, revise = requests(sure)
    confirm = expected_cost(revise, sure, 0.9, PRICES)
    whole = expected_cost(annotate, sure, 0.9, PRICES)
    # a confirmation writes a few tokens, an annotation every step: though the revise
    # prompt is longer (it carries the steps), confirming costs less
    assert len(revise.prompt) > len(annotate.prompt) and confirm < whole
    wrong_first = Explanation(STEPS, "3", token_confidence=[0.1, 0.99, 0.99, 0.99])
    assert expected_cost(revise, wrong_first, 0.9, PRICES) > whole


# --- what each selected question is asked (a real run directory and oracle teacher) ---

def start(tmp_path, *overrides):
    from elad.config import load_config
    from elad.context import Run
    from elad.rundir import RunDir

    from conftest import TINY

    config = load_config(None, [*TINY, *overrides])
    return Run.start(config, RunDir.create(tmp_path / "run", config), None)


def scored_candidates(candidates):
    """Two hand-made explanations per candidate; the second is e*, least sure at step 2
    and at the answer line (an early error, so mode=auto annotates; see above)."""
    from elad.explain import Scored
    from elad.types import Score

    explanations = {e.id: [Explanation(STEPS[:1], "7", -1.0, [0.99, 0.99]),
                           Explanation(STEPS, "3", -0.5, [0.99, 0.3, 0.99, 0.4])]
                    for e in candidates}
    scores = [Score(e.id, 0.5, 0.2, 0.35, 1, 2, ["7", "3"]) for e in candidates]
    return Scored(explanations, {e.id: [None, None] for e in candidates}, scores)


def test_revises_after_round_0_or_in_a_ranked_round_0_unless_the_mode_is_annotate():
    from elad.asking import revises
    from elad.config import RunConfig, StudentConfig

    assert not revises(RunConfig(mode="revise"), 0)  # a student from scratch: annotate
    assert not revises(RunConfig(mode="annotate"), 1)
    assert revises(RunConfig(mode="revise"), 1) and revises(RunConfig(mode="auto"), 3)
    warm = StudentConfig(warmup="curriculum")  # explains before training: ranks round 0
    assert revises(RunConfig(mode="auto", student=warm), 0)
    assert not revises(RunConfig(mode="annotate", student=warm), 0)
    assert not revises(RunConfig(mode="auto", strategy="random", student=warm), 0)
    assert not revises(RunConfig(mode="auto", rank_seed_round=False, student=warm), 0)


def test_round_requests_revise_the_chosen_explanation_with_its_hint(tmp_path):
    from elad.asking import round_requests, teacher_request

    run = start(tmp_path, "hint=true")
    candidates = run.pool[:3]
    requests = round_requests(run, 1, candidates, scored_candidates(candidates))
    assert list(requests) == [e.id for e in candidates]
    for e in candidates:
        request = requests[e.id]
        assert request.op == "revise" and request.question == e.question
        assert request.steps == tuple(STEPS) and request.answer == "3"  # e*: chosen=1
        assert request.hint == 2 and "least sure at step 2" in request.prompt
        assert request.identity == tuple(run.gateway.teacher.identity().items())
    # round 0 annotates whatever the mode
    assert teacher_request(run.config, run.gateway, 0, candidates[0]).op == "annotate"
    run.rundir.close()


def test_the_mode_decides_the_op(tmp_path):
    from elad.asking import round_requests

    for mode, op in (("annotate", "annotate"), ("auto", "annotate")):
        run = start(tmp_path / mode, f"mode={mode}")
        candidates = run.pool[:2]
        requests = round_requests(run, 1, candidates, scored_candidates(candidates))
        assert {r.op for r in requests.values()} == {op}, mode
        run.rundir.close()
    run = start(tmp_path / "nohint", "mode=revise")  # no hint by default
    request = next(iter(round_requests(run, 1, run.pool[:1],
                                       scored_candidates(run.pool[:1])).values()))
    assert request.op == "revise" and request.hint is None and "Hint" not in request.prompt
    run.rundir.close()


def test_a_resumed_round_asks_again_exactly_what_it_selected(tmp_path):
    from elad.asking import round_requests, stored_requests

    for mode in ("revise", "auto", "annotate"):
        run = start(tmp_path / mode, f"mode={mode}")
        candidates = run.pool[5:9]
        scored = scored_candidates(candidates)
        assert stored_requests(run, 1) is None  # not selected yet
        run.store.save_scoring(1, scored.explanations, scored.confidences, scored.scores)
        made = round_requests(run, 1, candidates, scored)
        selected = [candidates[2].id, candidates[0].id]
        run.store.save_selection(1, selected)
        again = stored_requests(run, 1)
        assert list(again) == selected
        assert [r.key for r in again.values()] == [made[qid].key for qid in selected]
        run.rundir.close()


def test_a_resumed_round_keeps_the_requests_it_sent_even_if_now_made_otherwise(tmp_path):
    """A question answered before the run stopped is asked as it was sent (its reply is
    found in the cache), even where this version makes another request for it (a round
    begun under an earlier elad); an unanswered one is made again."""
    from elad.asking import round_requests, stored_requests
    from elad.teacher.request import TeacherRequest
    from elad.types import TeacherReply

    run = start(tmp_path, "mode=revise")
    candidates = run.pool[5:8]
    scored = scored_candidates(candidates)
    run.store.save_scoring(1, scored.explanations, scored.confidences, scored.scores)
    made = round_requests(run, 1, candidates, scored)
    run.store.save_selection(1, [e.id for e in candidates])
    earlier = TeacherRequest.annotate(run.gateway.teacher.identity(),
                                      candidates[0].question, "number")
    assert TeacherRequest.from_dict(earlier.as_dict()) == earlier
    reply = TeacherReply("annotate", None, ["1 + 1 = 2"], "2", 30, 10)
    run.store.save_teacher_call(earlier.key, 1, candidates[0].id, earlier.as_dict(),
                                reply, 0.001)
    again = stored_requests(run, 1)
    assert again[candidates[0].id].key == earlier.key != made[candidates[0].id].key
    assert run.store.cached_reply(earlier.key) == reply
    assert [again[e.id].key for e in candidates[1:]] == [made[e.id].key
                                                          for e in candidates[1:]]
    run.rundir.close()
