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
            TeacherRequest.revise(TEACHER, Q, "number", explanation.steps,
                                  explanation.answer, None))


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
