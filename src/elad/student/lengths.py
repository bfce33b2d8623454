"""What a student's lengths allow, checked on its training sequences each round
(HFStudent.training_examples): the positions its model was built for, and how long an
explanation it writes (`student.max_new_tokens`)."""

from __future__ import annotations

import logging
import math

from transformers import PreTrainedModel

log = logging.getLogger("elad")

Examples = list[tuple[list[int], int]]  # (token ids, prompt length) of each sequence


def fit_positions(model: PreTrainedModel, examples: Examples, grows: bool,
                  name: str) -> None:
    """Sequences longer than the model's `max_position_embeddings` are trained anyway.
    A model whose positions are only rotary (`grows`: the tiny students) records the
    longer length, which changes no weight; a pretrained model `name` was not trained
    that far, so it is warned of."""
    longest = max((len(ids) for ids, _ in examples), default=0)
    limit = getattr(model.config, "max_position_embeddings", None)
    if not limit or longest <= limit:
        return
    if grows:
        model.config.max_position_embeddings = 2 ** math.ceil(math.log2(longest))
        log.info("the student's longest sequence is now %d tokens (a training sequence "
                 "of %d)", model.config.max_position_embeddings, longest)
        return
    over = sum(len(ids) > limit for ids, _ in examples)
    log.warning("%d of %d training sequences are longer than the %d tokens %s was "
                "pretrained for (the longest: %d); they are trained anyway", over,
                len(examples), limit, name, longest)


def said_if_cut(examples: Examples, max_new_tokens: int) -> bool:
    """Warn of target explanations longer than the student writes: its own explanations
    of such questions stop before their answer, so they score as wrong however well it
    learns (GSM8K's, for the tiny student's first 96 tokens). Returns whether it did."""
    cut = [len(ids) - prompt - 1 for ids, prompt in examples  # less the end token
           if len(ids) - prompt - 1 > max_new_tokens]
    if cut:
        log.warning("%d of %d training explanations are longer than the %d tokens the "
                    "student writes (student.max_new_tokens; the longest: %d): its own "
                    "explanations of such questions stop before their answer. A run's "
                    "student keeps its settings: a new run with student.max_new_tokens=%d "
                    "writes them whole", len(cut), len(examples), max_new_tokens, max(cut),
                    2 ** math.ceil(math.log2(max(cut))))
    return bool(cut)
