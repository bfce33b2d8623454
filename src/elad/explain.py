"""Steps 1-2 of a round: the student explains candidate questions, and each is scored.

The student samples K explanations per question (batched, KV cache), then the answer
confidence c_i after every step prefix of every explanation is computed in batched
teacher-forced passes, and one greedy explanation per question gives the least-confidence
baseline; `uncertainty` turns those numbers into every strategy's score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from elad import uncertainty
from elad.answers import parse_explanation
from elad.student.protocol import Student
from elad.types import Example, Explanation, Score

if TYPE_CHECKING:
    from elad.config import RunConfig


@dataclass
class Scored:
    explanations: dict[str, list[Explanation]]
    confidences: dict[str, list[list[float] | None]]  # per sample: c_0..c_n, or None
    scores: list[Score]


def explain(student: Student, examples: list[Example], answer_type, k: int,
            temperature: float, seed: int) -> dict[str, list[Explanation]]:
    """K sampled explanations per question, parsed into steps and a normalized answer."""
    generated = student.generate([e.question for e in examples], k, temperature, seed)
    result = {}
    for example, samples in zip(examples, generated):
        parsed = []
        for sample in samples:
            explanation = parse_explanation(
                sample.text, answer_type(example),
                tuple(math.exp(lp) for lp in sample.line_min_logprobs))
            explanation.mean_logprob = sample.mean_logprob
            parsed.append(explanation)
        result[example.id] = parsed
    return result


def prefix_confidences(student: Student, examples: list[Example],
                       explanations: dict[str, list[Explanation]]
                       ) -> dict[str, list[list[float] | None]]:
    """c_0..c_n for every explanation with a parsed answer (None for the others)."""
    items, owners = [], []
    for example in examples:
        for k, e in enumerate(explanations[example.id]):
            if e.answer is None:
                continue
            for i in range(len(e.steps) + 1):
                items.append((example.question, e.steps[:i], e.answer))
                owners.append((example.id, k))
    probabilities = student.answer_probabilities(items)
    result: dict[str, list[list[float] | None]] = {
        e.id: [None] * len(explanations[e.id]) for e in examples}
    for (qid, k), p in zip(owners, probabilities):
        if result[qid][k] is None:
            result[qid][k] = []
        result[qid][k].append(p)
    return result


def score(examples: list[Example], explanations: dict[str, list[Explanation]],
          confidences: dict[str, list[list[float] | None]], alpha: float,
          greedy: dict[str, Explanation]) -> list[Score]:
    """Every strategy's numbers for each question; `Score.u` is ELAD's u(q)."""
    scores = []
    for example in examples:
        samples = explanations[example.id]
        answers = [e.answer for e in samples]
        intra = [uncertainty.intra_uncertainty(c, len(e.steps))
                 for e, c in zip(samples, confidences[example.id])]
        normalized = [uncertainty.normalized_intra(u, len(e.steps))
                      for (u, _), e in zip(intra, samples)]
        u_inter = uncertainty.answer_entropy(answers)
        chosen = uncertainty.choose_explanation(answers, normalized)
        scores.append(Score(
            example_id=example.id, u_inter=u_inter,
            u_intra=sum(normalized) / len(normalized),
            u=uncertainty.combined_score(u_inter, normalized, alpha),
            chosen=chosen, least_stable_step=intra[chosen][1], answers=answers,
            least_confidence=uncertainty.least_confidence(greedy[example.id].mean_logprob),
            greedy_answer=greedy[example.id].answer))
    return scores


def explain_and_score(student: Student, examples: list[Example], answer_type,
                      config: RunConfig, seed: int) -> Scored:
    """K sampled explanations per question (the config's K and temperature), their prefix
    confidences, one greedy explanation (for least confidence and the diagnostic), and
    the scores (the config's alpha)."""
    explanations = explain(student, examples, answer_type, config.student.samples,
                           config.student.temperature, seed)
    confidences = prefix_confidences(student, examples, explanations)
    greedy = {qid: samples[0] for qid, samples in
              explain(student, examples, answer_type, 1, 0.0, seed).items()}
    return Scored(explanations, confidences,
                  score(examples, explanations, confidences, config.alpha, greedy))
