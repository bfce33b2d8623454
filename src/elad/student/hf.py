"""A student backed by any Hugging Face causal LM: sample, score prefixes, answer, train.

Everything the loop asks of a student (student/protocol.py) runs in padded batches: K
explanations per question come from one `generate` call per batch (KV cache), the answer
confidences of all step prefixes are teacher-forced forward passes, and training goes to
`training.fine_tune` on (prompt, explanation) token sequences.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, PreTrainedModel
from transformers.utils import logging as hf_logging

from elad.answers import ANSWER_CUE, prompt_text
from elad.progress import progress
from elad.student.lengths import fit_positions, learned_positions, said_if_cut
from elad.student.protocol import Generation
from elad.training import Schedule, fine_tune, pad

log = logging.getLogger("elad")
hf_logging.set_verbosity_error()  # no weight-loading bars or notices in the run's output
hf_logging.disable_progress_bar()
# transformers 5 renames the KV cache argument `past_key_values` (which 4.x needs) and
# warns at every decoding step; the sampler passes it on purpose
warnings.filterwarnings("ignore", message="`past_key_values` is deprecated",
                        category=FutureWarning)


@contextmanager
def merged_lora(model: PreTrainedModel, enabled: bool = True):
    """A LoRA model's adapter folded into its base weights for the block (peft's
    merge_adapter), then the base weights put back bit for bit (unmerging alone would
    round them in bfloat16), so training afterwards starts from them unchanged. Decoding
    is a long run of small steps whose host work is one call per operator, and a merged
    adapter adds no operators of its own (how many fewer: BENCHMARKS.md). Costs a copy
    of the adapted weights in host memory (not the GPU's) while it lasts. Any other
    model: as it is."""
    if not (enabled and hasattr(model, "merge_adapter")):
        yield
        return
    from peft.tuners.lora import LoraLayer

    bases = [m.get_base_layer() for m in model.modules() if isinstance(m, LoraLayer)]
    saved = [base.weight.detach().to("cpu", copy=True) for base in bases]
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for base, weight in zip(bases, saved):
                base.weight.copy_(weight)


def question_seed(seed: int, question: str) -> int:
    """The seed of one question's random stream in a call seeded `seed`: the same in
    every batch, shard and process."""
    digest = hashlib.blake2b(f"{seed}/{question}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # torch seeds are below 2**63


def question_uniforms(seed: int, question: str, k: int, length: int) -> torch.Tensor:
    """k rows of `length` uniform numbers in [0, 1): what one question's k samples draw
    their tokens with (inverse CDF)."""
    generator = torch.Generator().manual_seed(question_seed(seed, question))
    return torch.rand(k, length, generator=generator)


@dataclass(frozen=True)
class TextFormat:
    """How a student's sequences are laid out: the token ids every prompt starts with
    (bos, if the model has one), the prompt text for a question (plain, or the model's
    chat template), the end token trained after every explanation, the tokens that end
    generation, and the padding token."""

    pad: int
    prefix: tuple[int, ...]
    eos: int
    stops: tuple[int, ...]
    render: Callable[[str], str] = prompt_text

    @classmethod
    def of_tiny(cls, tokenizer: Tokenizer) -> TextFormat:
        """The tiny students' format: <pad>, <s> and </s> tokens, the plain prompt."""
        eos = tokenizer.token_to_id("</s>")
        return cls(pad=tokenizer.token_to_id("<pad>"), prefix=(tokenizer.token_to_id("<s>"),),
                   eos=eos, stops=(eos,))


def set_greedy_generation(model: PreTrainedModel, text_format: TextFormat,
                          max_new_tokens: int) -> None:
    """Set `model.generation_config` so that `generate` and `pipeline` decode as the
    evaluation does: greedily, up to `max_new_tokens`, stopping at the student's end
    tokens (saved with the model by `save_pretrained`)."""
    config = model.generation_config
    config.do_sample = False
    config.temperature = config.top_p = config.top_k = None
    config.max_new_tokens = max_new_tokens
    stops = list(text_format.stops)
    config.eos_token_id = stops[0] if len(stops) == 1 else stops
    config.pad_token_id = text_format.pad
    if text_format.prefix:
        config.bos_token_id = text_format.prefix[0]


class HFStudent:
    """A causal LM plus a `tokenizers` tokenizer (a pretrained model's fast tokenizer
    backend, or the tiny one) and its `TextFormat` (default: the tiny one)."""

    def __init__(self, model: PreTrainedModel, tokenizer: Tokenizer, name: str,
                 batch_size: int = 64, max_new_tokens: int = 96,
                 text_format: TextFormat | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.format = text_format or TextFormat.of_tiny(tokenizer)
        self.pad_id, self.eos_id = self.format.pad, self.format.eos
        self.stops = torch.tensor(self.format.stops)
        self.device = next(model.parameters()).device
        self._newlines: list[int] | None = None  # made on first use (line_min_logprobs)
        self.merge_lora_to_decode = True  # see merged_lora; False decodes through the
        # adapter (no copy of the weights in host memory; the tests compare the two)
        self.positions_grow = False  # True for a tiny student (lengths.fit_positions)
        self._said_cut = False  # lengths.said_if_cut warned already: once is enough
        self._said_full = False  # _sample_within warned already

    # --- persistence ------------------------------------------------------------------

    def save(self, directory: Path, state_dict: dict | None = None) -> None:
        """The model (a LoRA student's adapter only) and the tokenizer; `state_dict`
        replaces the model's own (gathered from the processes that trained it)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory, state_dict=state_dict)
        self.tokenizer.save(str(directory / "tokenizer.json"))

    @classmethod
    def load(cls, directory: Path, name: str, **kwargs) -> HFStudent:
        """A tiny student saved in `directory` (a pretrained one: pretrained.py)."""
        model = AutoModelForCausalLM.from_pretrained(directory)
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        student = cls(model, tokenizer, name, **kwargs)
        student.positions_grow = True
        return student

    # --- tokens -----------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def prompt_ids(self, question: str) -> list[int]:
        return [*self.format.prefix, *self.encode(self.format.render(question))]

    def _pad(self, rows: list[list[int]], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return pad(rows, self.pad_id, left, self.device)

    def _progress(self, items: range, label: str, unit: str) -> Iterable[int]:
        """`items` with a progress bar when the user is watching (a terminal), else
        with a log line now and then (progress.py)."""
        if len(items) < 2:
            return items
        return progress(items, label, unit)

    def _batches(self, n: int, size: int, label: str) -> Iterator[range]:
        for start in self._progress(range(0, n, size), label, "batch"):
            yield range(start, min(n, start + size))

    # --- generation -------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, questions: list[str], k: int = 1, temperature: float = 0.0,
                 seed: int = 0) -> list[list[Generation]]:
        """For each question, k generated explanations with their token log-probs.

        temperature 0 means greedy. Questions are sorted by prompt length so batches hold
        similar lengths; results come back in the original order. Each question draws
        from its own random stream (`question_seed`), so its samples do not depend on
        which other questions share its batch or its call (a Ray shard gets the same).
        """
        self.model.eval()
        prompts = [self.prompt_ids(q) for q in questions]
        order = sorted(range(len(questions)), key=lambda i: len(prompts[i]))
        results: list[list[Generation]] = [[] for _ in questions]
        per_batch = max(1, self.batch_size // k)
        with merged_lora(self.model, self.merge_lora_to_decode):
            for batch in self._batches(len(order), per_batch, "generate"):
                idx = [order[i] for i in batch for _ in range(k)]
                uniforms = torch.cat([
                    question_uniforms(seed, questions[order[i]], k, self.max_new_tokens)
                    for i in batch]) if temperature > 0 else None
                for i, (tokens, logprobs, mean_logprob) in zip(idx, self._sample(
                        [prompts[i] for i in idx], temperature, uniforms)):
                    results[i].append(Generation(self.tokenizer.decode(tokens),
                                                 mean_logprob,
                                                 self.line_min_logprobs(tokens, logprobs)))
        return results

    def line_min_logprobs(self, tokens: list[int], logprobs: list[float]
                          ) -> tuple[float, ...]:
        """Per line of the decoded tokens, the lowest log-probability of a token that
        starts on it (a token holding a newline starts on the line before it)."""
        if self._newlines is None:  # how many newlines each token id decodes to
            self._newlines = [self.tokenizer.decode([i]).count("\n")
                              for i in range(self.tokenizer.get_vocab_size())]
        lines = [0.0]
        for token, logprob in zip(tokens, logprobs):
            lines[-1] = min(lines[-1], logprob)
            lines += [0.0] * self._newlines[token]
        return tuple(lines)

    def _sample(self, prompts: list[list[int]], temperature: float,
                uniforms: torch.Tensor | None) -> list[tuple[list[int], list[float], float]]:
        """Decode a left-padded batch with the KV cache; a row that has written its end
        token leaves the batch (and the cache), so short explanations cost no more steps.
        Sampling (temperature > 0) inverts each row's CDF at its own uniform numbers
        (`uniforms`: rows x max_new_tokens); temperature 0 is greedy. The log-probs
        returned are the model's own, whatever the temperature drawn at: what scoring
        reads, and what vLLM returns (its default, raw log-probs)."""
        limit = None if self.positions_grow else learned_positions(self.model)
        if limit and any(len(p) >= limit for p in prompts):  # no room: no explanation
            return self._sample_within(prompts, temperature, uniforms, limit)
        ids, mask = self._pad(prompts, left=True)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1)
        cache, position = out.past_key_values, positions[:, -1]
        alive = torch.arange(len(prompts), device=self.device)
        tokens: list[list[int]] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        logprob_sums = torch.zeros(len(prompts), device=self.device)
        stops = self.stops.to(self.device)
        if uniforms is not None:
            uniforms = uniforms.to(self.device)
        for step in range(self.max_new_tokens):
            logits = out.logits[:, -1].float()
            logp = torch.log_softmax(logits, -1)
            if uniforms is not None:
                drawn = logp if temperature == 1 else torch.log_softmax(
                    logits / temperature, -1)
                cdf = drawn.exp().cumsum(-1)
                u = uniforms[alive, step, None] * cdf[:, -1:]
                chosen = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(
                    max=cdf.shape[1] - 1)
            else:
                chosen = logp.argmax(-1)
            picked = logp.gather(1, chosen[:, None]).squeeze(1)
            logprob_sums[alive] += picked
            for row, token, logprob in zip(alive.tolist(), chosen.tolist(), picked.tolist()):
                tokens[row].append(token)
                logprobs[row].append(logprob)
            going = ~torch.isin(chosen, stops)
            if limit:  # a learned position table ends: the row stops as it fills it
                going &= position + 2 < limit
            if not going.any():
                break
            if not going.all():
                keep = going.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                alive, mask, chosen, position = alive[keep], mask[keep], chosen[keep], \
                    position[keep]
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
            position = position + 1
            out = self.model(input_ids=chosen[:, None], attention_mask=mask,
                             position_ids=position[:, None], past_key_values=cache,
                             use_cache=True)
        stop_ids = set(self.format.stops)
        results = []
        for row, row_logprobs, total in zip(tokens, logprobs, logprob_sums.tolist()):
            kept = [j for j, token in enumerate(row) if token not in stop_ids]
            results.append(([row[j] for j in kept], [row_logprobs[j] for j in kept],
                            float(total) / max(1, len(row))))
        return results

    def _sample_within(self, prompts: list[list[int]], temperature: float,
                       uniforms: torch.Tensor | None, limit: int
                       ) -> list[tuple[list[int], list[float], float]]:
        """`_sample` for the prompts that leave room in a learned position table of
        `limit`; one that fills it gets no explanation (no answer: wrong), said once."""
        fits = [i for i, p in enumerate(prompts) if len(p) < limit]
        if not self._said_full:
            self._said_full = True
            log.warning("%d questions fill the %d positions of %s: they get no "
                        "explanation (no answer)", len(prompts) - len(fits), limit,
                        self.name)
        results: list[tuple[list[int], list[float], float]] = [([], [], 0.0)] * len(prompts)
        if fits:
            written = self._sample([prompts[i] for i in fits], temperature,
                                   None if uniforms is None else uniforms[fits])
            for i, row in zip(fits, written):
                results[i] = row
        return results

    # --- teacher-forced scoring -------------------------------------------------------

    def answer_rows(self, items: list[tuple[str, list[str], str]]
                    ) -> tuple[list[list[int]], list[tuple[int, int]]]:
        """For each (question, steps, answer): the token ids of the prompt, the steps, the
        answer cue and the answer, and where the answer's tokens are in them."""
        rows: list[list[int]] = []
        spans: list[tuple[int, int]] = []
        prefix = len(self.format.prefix)
        for question, steps, answer in items:
            context = self.format.render(question) + "".join(s + "\n" for s in steps) \
                + ANSWER_CUE
            context_ids = self.encode(context)
            full_ids = self.encode(f"{context} {answer}")
            if full_ids[: len(context_ids)] != context_ids:  # tokenizer merged across cue
                full_ids = context_ids + self.encode(f" {answer}")
            rows.append([*self.format.prefix, *full_ids])
            spans.append((len(context_ids) + prefix, len(full_ids) + prefix))
        return rows, spans

    @torch.no_grad()
    def answer_probabilities(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        """p(answer | question, steps, answer cue) for each (question, steps, answer).

        Each item is one explanation prefix; the answer is scored token by token after
        the prefix and the cue "The answer is", all in batched forward passes.
        """
        self.model.eval()
        unique = list(dict.fromkeys((q, tuple(steps), a) for q, steps, a in items))
        if len(unique) < len(items):  # samples often share steps: score each prefix once
            probability = dict(zip(unique, self.answer_probabilities(
                [(q, list(steps), a) for q, steps, a in unique])))
            return [probability[(q, tuple(steps), a)] for q, steps, a in items]
        rows, spans = self.answer_rows(items)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        probs = [0.0] * len(rows)
        # smaller batches than generation: long teacher-forced rows, activations in cache
        for batch in self._batches(len(order), max(1, self.batch_size // 4), "score"):
            idx = [order[i] for i in batch]
            ids, _ = self._pad([rows[i] for i in idx], left=False)
            # logits only where an answer token is predicted, not at every position
            row_of, position, target = [], [], []
            for j, i in enumerate(idx):
                start, end = spans[i]
                row_of += [j] * (end - start)
                position += range(start - 1, end - 1)
                target += rows[i][start:end]
            keep = torch.tensor(sorted(set(position)))
            column = {p: c for c, p in enumerate(keep.tolist())}
            logits = self.model(input_ids=ids, logits_to_keep=keep).logits  # no mask needed:
            logp = torch.log_softmax(logits.float(), dim=-1)  # right padding, causal
            picked = logp[row_of, [column[p] for p in position], target]
            totals = torch.zeros(len(idx)).index_add_(0, torch.tensor(row_of), picked.cpu())
            for j, i in enumerate(idx):
                probs[i] = math.exp(float(totals[j]))
        return probs

    @torch.no_grad()
    def embed(self, questions: list[str]) -> torch.Tensor:
        """One unit vector per question: the last hidden layer, mean-pooled over the
        prompt tokens (what the diversity filter compares)."""
        self.model.eval()
        prompts = [self.prompt_ids(q) for q in questions]
        vectors = torch.zeros(len(questions), self.model.config.hidden_size)
        for batch in self._batches(len(prompts), self.batch_size * 4, "embed"):
            ids, mask = self._pad([prompts[i] for i in batch], left=False)
            hidden = self.model(input_ids=ids, output_hidden_states=True,
                                logits_to_keep=1).hidden_states[-1]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            vectors[batch.start:batch.stop] = pooled.float().cpu()
        return torch.nn.functional.normalize(vectors, dim=-1)

    # --- training ---------------------------------------------------------------------

    def training_examples(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], int]]:
        """(token ids, prompt length) of each (question, explanation text): the prompt,
        the explanation and its end token; an explanation without its answer line (a
        warm-up's beginning of a chain, tasks/curriculum.py) gets no end token."""
        examples = []
        for question, explanation in pairs:
            prompt = self.prompt_ids(question)
            end = [self.eos_id] if ANSWER_CUE in explanation else []
            examples.append(([*prompt, *self.encode(explanation), *end], len(prompt)))
        examples = fit_positions(self.model, examples, self.positions_grow, self.name)
        self._said_cut = self._said_cut or said_if_cut(examples, self.max_new_tokens)
        return examples

    def train(self, pairs: list[tuple[str, str]], steps: int, lr: float, seed: int,
              batch_size: int = 32) -> dict:
        """Fine-tune on (question, explanation text) pairs for a fixed number of steps
        (training.fine_tune); the loss covers the explanation and its end token only."""
        return fine_tune(self.model, self.training_examples(pairs),
                         Schedule(steps=steps, lr=lr, seed=seed, batch_size=batch_size),
                         self.pad_id, progress=lambda r: self._progress(r, "train", "step"))
