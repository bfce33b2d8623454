"""Step 5 of a round: fine-tune a causal LM on (prompt, completion) token sequences,
the loss on the completion only. The one place where training happens, so that
multi-device training has one home.

Plain PyTorch: AdamW, linear warmup then cosine decay to a tenth, gradient clipping,
length-bucketed batches cycling through shuffled epochs. It does what the tiny CPU
students need with no trainer machinery around a few hundred steps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import torch
from transformers import PreTrainedModel


def pad(rows: list[list[int]], pad_id: int, left: bool,
        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as one padded (ids, attention mask) batch on `device`."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if left:
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
        else:
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def length_bucketed_batches(lengths: list[int], batch_size: int,
                            rng: random.Random) -> list[list[int]]:
    """One shuffled epoch cut into batches of similar lengths, so little is padding."""
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    batches = []
    chunk = batch_size * 8
    for start in range(0, len(indices), chunk):
        group = sorted(indices[start:start + chunk], key=lambda i: lengths[i])
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches


def fine_tune(model: PreTrainedModel, examples: list[tuple[list[int], int]], *,
              steps: int, lr: float, seed: int, batch_size: int, pad_id: int,
              warmup: int = 20,
              progress: Callable[[range], Iterable[int]] = lambda steps: steps) -> dict:
    """Train `model` for `steps` optimizer steps on (token ids, prompt length)
    examples; the loss covers the tokens after the prompt. Returns the mean loss of the
    last 10% of steps."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup)
        * max(0.1, 0.5 * (1 + math.cos(math.pi * s / steps))))
    lengths = [len(ids) for ids, _ in examples]
    model.train()
    order: list[list[int]] = []
    losses = []
    for _ in progress(range(steps)):
        if not order:
            order = length_bucketed_batches(lengths, batch_size, rng)
        batch = [examples[i] for i in order.pop()]
        ids, mask = pad([b[0] for b in batch], pad_id, left=False, device=device)
        labels = ids.clone()
        labels[mask == 0] = -100
        for row, (_, prompt_length) in enumerate(batch):
            labels[row, :prompt_length] = -100
        loss = model(input_ids=ids, labels=labels).loss  # right padded: no mask needed
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    tail = losses[-max(1, steps // 10):]
    return {"train_loss": sum(tail) / len(tail), "train_steps": steps}
