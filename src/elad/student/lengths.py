"""What a student's lengths allow, checked on its training sequences each round
(HFStudent.training_examples): the positions its model was built for, and how long an
explanation it writes (`student.max_new_tokens`)."""

from __future__ import annotations

import logging
import math

import torch
from transformers import PreTrainedModel

log = logging.getLogger("elad")

Examples = list[tuple[list[int], int]]  # (token ids, prompt length) of each sequence


def learned_positions(model: PreTrainedModel) -> int | None:
    """The model's `max_position_embeddings` where it is a hard limit: a learned position
    table (GPT-2's), which has no row past it (an IndexError). None for a model whose
    positions are rotary (most: Llama, Qwen, Gemma), which take longer sequences."""
    limit = getattr(model.config, "max_position_embeddings", None)
    inputs = set(model.get_input_embeddings().modules())  # a LoRA-wrapped one's too
    tables = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)
              and m not in inputs and limit and m.num_embeddings >= limit]
    return limit if tables else None


def fit_positions(model: PreTrainedModel, examples: Examples, grows: bool,
                  name: str) -> Examples:
    """The training sequences, fitted to the model's `max_position_embeddings`. A model
    whose positions are only rotary records a longer length (`grows`: the tiny students,
    which changes no weight) or is warned of (a pretrained model `name`, not trained
    that far); one with a learned position table cannot take them, so a longer sequence
    is cut to its positions, its end left out of the loss, and said so."""
    longest = max((len(ids) for ids, _ in examples), default=0)
    limit = getattr(model.config, "max_position_embeddings", None)
    if not limit or longest <= limit:
        return examples
    if grows:
        model.config.max_position_embeddings = 2 ** math.ceil(math.log2(longest))
        log.info("the student's longest sequence is now %d tokens (a training sequence "
                 "of %d)", model.config.max_position_embeddings, longest)
        return examples
    over = sum(len(ids) > limit for ids, _ in examples)
    if not learned_positions(model):
        log.warning("%d of %d training sequences are longer than the %d tokens %s was "
                    "pretrained for (the longest: %d); they are trained anyway", over,
                    len(examples), limit, name, longest)
        return examples
    kept = [(ids[:limit], prompt) for ids, prompt in examples if prompt < limit]
    log.warning("%d of %d training sequences are longer than the %d positions %s has "
                "(the longest: %d); they are cut to %d tokens, their ends not trained on%s",
                over, len(examples), limit, name, longest, limit,
                f" ({len(examples) - len(kept)} whose question alone fills them left out)"
                if len(kept) < len(examples) else "")
    return kept


def said_if_cut(examples: Examples, max_new_tokens: int) -> bool:
    """Warn of target explanations longer than the student writes: its own explanations
    of such questions stop before their answer, so they score as wrong however well it
    learns (GSM8K's, for the tiny student's first 96 tokens). Returns whether it did."""
    cut = [len(ids) - prompt - 1 for ids, prompt in examples  # less the end token
           if len(ids) - prompt - 1 > max_new_tokens]
    if cut:
        log.warning("%d of %d training explanations are longer than the %d tokens the "
                    "student writes (student.max_new_tokens; the longest: %d): its own "
                    "explanations of such questions stop before their answer. Stop the "
                    "run (Ctrl-C) and give the same command student.max_new_tokens=%d: "
                    "it goes on from there, writing them whole, and nothing paid is asked "
                    "again (a run that has finished goes on once max_rounds or budget_usd "
                    "allows more; a bench's grid, in another --out)", len(cut),
                    len(examples), max_new_tokens, max(cut),
                    2 ** math.ceil(math.log2(max(cut))))
    return bool(cut)
