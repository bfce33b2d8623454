"""Step 5 of a round: fine-tune a causal LM on (prompt, completion) token sequences,
the loss on the completion only. The one place where training happens: in one process,
or in each of N processes under `accelerate launch` (launch.py).

Plain PyTorch: AdamW, linear warmup then cosine decay to a tenth, gradient clipping,
batches cycling through shuffled epochs. It does what the tiny CPU
students need with no trainer machinery around a few hundred steps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from transformers import LlamaForCausalLM, PreTrainedModel

if TYPE_CHECKING:
    from accelerate import Accelerator


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


def packed(rows: list[tuple[list[int], int]], pad_id: int,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(token ids, prompt length) rows packed into as few lines as the longest row is
    wide (first fit, longest first), as (ids, labels, position ids): labels cover each
    row's tokens after its prompt, and positions restart at 0 with each row, so that
    transformers (create_causal_mask) lets a token attend only within its own row. The
    model computes what it would on the rows padded one per line, on fewer positions
    (the synthetic tasks' rows: about a third fewer)."""
    width = max(len(ids) for ids, _ in rows)
    lines: list[list[int]] = []
    free: list[int] = []  # each line's room left
    for i in sorted(range(len(rows)), key=lambda i: -len(rows[i][0])):
        size = len(rows[i][0])
        n = next((n for n, room in enumerate(free) if room >= size), len(lines))
        if n == len(lines):
            lines.append([])
            free.append(width)
        lines[n].append(i)
        free[n] -= size
    ids = torch.full((len(lines), width), pad_id, dtype=torch.long)
    labels = torch.full((len(lines), width), -100, dtype=torch.long)
    positions = torch.zeros((len(lines), width), dtype=torch.long)
    for n, line in enumerate(lines):
        at = 0
        for i in line:
            tokens, prompt_length = rows[i]
            end = at + len(tokens)
            ids[n, at:end] = torch.tensor(tokens)
            labels[n, at + prompt_length:end] = torch.tensor(tokens[prompt_length:])
            positions[n, at:end] = torch.arange(len(tokens))
            at = end
        # the padding goes on counting the last row's positions: its tail, masked out
        positions[n, at:] = torch.arange(len(tokens), len(tokens) + width - at)
    return ids.to(device), labels.to(device), positions.to(device)


def packs(model: torch.nn.Module) -> bool:
    """Whether `model` trains on packed lines (`packed`): a transformers Llama (the tiny
    students), whose attention mask follows restarting position ids
    (tests/test_student.py checks the loss and gradients equal the padded batch's).
    Other architectures train on padded rows."""
    return isinstance(getattr(model, "module", model), LlamaForCausalLM)


def shuffled_batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """One shuffled epoch cut into batches. Not grouped by length: on a task mix, length
    goes with the task, and batches of one task each train the student about twice as
    slowly per step as mixed ones (BENCHMARKS.md, "Measurements behind design choices"),
    which is more than the padding they save."""
    indices = list(range(n))
    rng.shuffle(indices)
    return [indices[i:i + batch_size] for i in range(0, n, batch_size)]


def adamw(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """The optimizer of the trainable parameters."""
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                             weight_decay=0.01, betas=(0.9, 0.98))


@dataclass(frozen=True)
class Schedule:
    """How a fine-tuning goes: optimizer steps, peak learning rate, the seed of the batch
    order and of torch, rows per step, linear warmup steps, and whether to pack the rows
    of a step into shared lines where the model allows it (`packs`)."""

    steps: int
    lr: float
    seed: int
    batch_size: int
    warmup: int = 20
    pack: bool = True


@dataclass(frozen=True)
class Accelerated:
    """An `accelerate` job's accelerator and the optimizer it prepared together with the
    model (made by `adamw`)."""

    accelerator: Accelerator
    optimizer: torch.optim.Optimizer


def fine_tune(model: PreTrainedModel, examples: list[tuple[list[int], int]],
              schedule: Schedule, pad_id: int,
              progress: Callable[[range], Iterable[int]] = lambda steps: steps,
              accelerated: Accelerated | None = None) -> dict:
    """Train `model` for `schedule.steps` optimizer steps on (token ids, prompt length)
    examples; the loss covers the tokens after the prompt. Returns the mean loss of the
    first and of the last 10% of steps.

    With `accelerated` (N processes under `accelerate launch`; `model` and its
    optimizer prepared by the accelerator together), every process walks the same
    batches and trains on its share of each (rows rank, rank + N, ...), its loss weighted
    by its share of the batch's tokens, so the averaged gradient is the one-process
    gradient of the whole batch: N processes take the steps one process would."""
    steps, seed, batch_size, warmup = (schedule.steps, schedule.seed, schedule.batch_size,
                                       schedule.warmup)
    accelerator = accelerated.accelerator if accelerated else None
    rng = random.Random(seed)
    torch.manual_seed(seed)
    rank, processes = (accelerator.process_index, accelerator.num_processes) \
        if accelerator else (0, 1)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = accelerated.optimizer if accelerated else adamw(model, schedule.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup)
        * max(0.1, 0.5 * (1 + math.cos(math.pi * s / steps))))
    pack = schedule.pack and packs(model)
    model.train()
    order: list[list[int]] = []
    losses = []
    for _ in progress(range(steps)):
        if not order:
            order = shuffled_batches(len(examples), batch_size, rng)
        batch = [examples[i] for i in order.pop()]
        tokens = [len(ids) - prompt_length for ids, prompt_length in batch]
        weight = processes * sum(tokens[rank::processes]) / sum(tokens)
        mine = batch[rank::processes] or batch[:1]  # none: one row, weighted 0
        loss = batch_loss(model, mine, pad_id, device, pack)
        if accelerator:
            accelerator.backward(loss * weight)
            accelerator.clip_grad_norm_(params, 1.0)
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item() * weight / processes)  # this process's part of the mean
    model.eval()
    if accelerator:  # the whole batches' losses: one sum over the processes, at the end
        losses = accelerator.reduce(torch.tensor(losses, device=device), "sum").tolist()
    n = max(1, steps // 10)
    return {"train_loss": sum(losses[-n:]) / n, "train_loss_first": sum(losses[:n]) / n,
            "train_steps": steps}


def batch_loss(model: PreTrainedModel, rows: list[tuple[list[int], int]], pad_id: int,
               device: torch.device, pack: bool) -> torch.Tensor:
    """The mean loss over the tokens after each row's prompt: on `packed` lines, or
    on the rows right padded (causal: no attention mask needed)."""
    if pack:
        ids, labels, positions = packed(rows, pad_id, device)
        return model(input_ids=ids, labels=labels, position_ids=positions,
                     use_cache=False).loss
    ids, mask = pad([ids for ids, _ in rows], pad_id, left=False, device=device)
    labels = ids.clone()
    labels[mask == 0] = -100
    for row, (_, prompt_length) in enumerate(rows):
        labels[row, :prompt_length] = -100
    head = vocabulary_head(model)
    if head is None:
        return model(input_ids=ids, labels=labels, use_cache=False).loss
    decoder, weight = head
    hidden = decoder(input_ids=ids, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    kept = targets != -100  # the projection only where there is a target
    return F.linear_cross_entropy(hidden[:, :-1][kept], weight, targets[kept],
                                  options=torch.nn.LinearCrossEntropyOptions(
                                      batch_chunk_size=LOSS_CHUNK))


# positions a chunk of the loss projects at once: 1 GiB of float32 logits at 262,144
# tokens. On 2 CPU cores a step's loss took a third of the time of the model's own loss
# (whole logits) at 1024, and three times as long with torch's automatic chunk size.
LOSS_CHUNK = 1024


_HEADS: WeakKeyDictionary = WeakKeyDictionary()  # model -> vocabulary_head's answer


def vocabulary_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.Tensor] | None:
    """The decoder and output weight of `model`, where its logits are the decoder's last
    hidden state times that weight and nothing else (checked once, on a short input):
    then the loss is torch's linear_cross_entropy over the hidden states, chunked, which
    never holds the whole batch's logits. Those are rows x length x vocabulary floats,
    several copies of them, which made 70 GiB of a 270M student's training step at batch
    16 on a GPU (BENCHMARKS.md). None, for the model's own loss: a torch without
    linear_cross_entropy's chunked form (2.13 has it), a model wrapped for distributed
    training (its forward must go through the wrapper), a head with a bias, a soft cap
    or a scale."""
    chunks = hasattr(F, "linear_cross_entropy") and hasattr(torch.nn,
                                                            "LinearCrossEntropyOptions")
    if not chunks or isinstance(model, DistributedDataParallel):
        return None
    if model not in _HEADS:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        head, decoder = base.get_output_embeddings(), base.get_decoder()
        found = None
        if isinstance(head, torch.nn.Linear) and head.bias is None and decoder is not base:
            training = model.training
            model.eval()  # no dropout: both sides see the same function
            probe = torch.arange(1, 9, device=head.weight.device)[None] % head.out_features
            with torch.no_grad():  # the same head on the same states: equal but for
                # what the model does to its logits after the head
                mine = head(decoder(input_ids=probe, use_cache=False).last_hidden_state)
                theirs = model(input_ids=probe, use_cache=False).logits
            model.train(training)
            if torch.allclose(mine.float(), theirs.float(), rtol=1e-4, atol=1e-5):
                found = (decoder, head.weight)
        _HEADS[model] = found
    return _HEADS[model]
