"""Sampling and scoring through vLLM, used automatically when vLLM and a GPU are there.

`VLLMStudent` wraps a LoRA `HFStudent`: training, saving and embeddings stay in
transformers + peft, while `generate` (the K explanations, the greedy ones, evaluation)
and `answer_probabilities` (prefix scoring, as prompt log-probabilities) run in one vLLM
engine per process, with the student's current adapter as a LoRA request. The prompts
are the HF student's own token ids, so both backends see the same sequences; their
outputs agree within sampling noise (different random streams). Each question's samples
are seeded by `question_seed`, as in HFStudent, so they do not depend on the batch.

    pip install 'elad[gpu]'        # vllm; then student.backend=auto (the default) uses it
    elad run ... student.backend=hf  # to keep it off
"""

from __future__ import annotations

import gc
import itertools
import logging
import math
import tempfile
from pathlib import Path

import torch

from elad.config import ConfigError, StudentConfig
from elad.progress import bars_shown
from elad.student.hf import HFStudent, question_seed
from elad.student.protocol import Generation

log = logging.getLogger("elad")
_ENGINES: dict[tuple, object] = {}  # the process's engine (one: it holds GPU memory)
_ADAPTER_IDS = itertools.count(1)  # vLLM tells LoRA adapters apart by integer id


def vllm_usable(config: StudentConfig) -> bool:
    """Whether `student.backend` and the machine call for vLLM; `backend=vllm` where it
    cannot run is an error, `auto` quietly uses transformers."""
    if config.backend == "hf" or config.kind != "hf":
        return False
    problem = None
    if config.finetune != "lora":
        problem = "the vLLM backend serves LoRA students only (student.finetune=lora)"
    elif config.lora_rank > VLLM_LORA_RANKS[-1]:
        problem = f"vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]}"
    elif config.temperature > 2:
        problem = "vLLM samples at temperatures up to 2"
    elif config.dtype == "float16" and (kind := model_type(config)) in VLLM_NO_FLOAT16:
        problem = (f"vLLM refuses float16 for {kind} models (numerical instability): "
                   "student.dtype=bfloat16 or float32")
    elif not torch.cuda.is_available():
        problem = "the vLLM backend needs a GPU"
    else:
        try:
            import vllm  # noqa: F401
        except ImportError:
            problem = "the vLLM backend needs vllm: pip install 'elad[gpu]'"
    if problem and config.backend == "vllm":
        raise ConfigError(f"student.backend=vllm: {problem}")
    return problem is None


# the model types vLLM will not run in float16 (vllm/config/model.py, 0.10's config.py)
VLLM_NO_FLOAT16 = ("gemma2", "gemma3", "gemma3_text", "glm4")


def model_type(config: StudentConfig) -> str:
    from transformers import AutoConfig

    from elad.student.pretrained import model_path

    return AutoConfig.from_pretrained(model_path(config)).model_type


def maybe_vllm(config: StudentConfig, student: HFStudent, gpu_share: float = 1.0):
    return VLLMStudent(config, student, gpu_share) if vllm_usable(config) else student


def engine(config: StudentConfig, gpu_share: float = 1.0):
    """The vLLM engine of the student's base model, started on first use with half of
    `gpu_share` of the GPU's memory (the other half trains the adapter; Ray actors
    that share a GPU each get their part). One engine a process: a student that needs
    another (another model, dtype or LoRA rank) replaces it, since two would not fit."""
    from vllm import LLM

    from elad.student.pretrained import dtype_of, model_path

    key = (model_path(config), str(dtype_of(config)).removeprefix("torch."),
           vllm_lora_rank(config.lora_rank), gpu_share)
    if key not in _ENGINES:
        if _ENGINES:
            log.info("stopping the vLLM engine of %s for another student",
                     next(iter(_ENGINES))[0])
            _ENGINES.clear()
            gc.collect()  # vLLM stops an engine when it is collected
        path, dtype, rank, _ = key
        log.info("starting a vLLM engine for %s", path)
        torch.cuda.empty_cache()  # it refuses to start unless its share of the GPU is free
        # Its defaults do the rest: log-probs are the model's own, before the
        # temperature (as HFStudent's); the prefix cache is on, and requests that ask
        # for prompt log-probs compute them in full (vllm/v1/request.py), while the K
        # samples of a question, which vLLM runs as K requests, share their prompt.
        _ENGINES[key] = LLM(model=path, enable_lora=True, seed=0, max_lora_rank=rank,
                            dtype=dtype, gpu_memory_utilization=0.5 * gpu_share)
    return _ENGINES[key]


# the ranks vLLM takes for max_lora_rank (vllm/config/lora.py; 0.8's vllm/config.py)
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_lora_rank(rank: int) -> int:
    """The max_lora_rank to start vLLM with for an adapter of `rank`: the next one up
    that vLLM takes (any other stops the engine at its start)."""
    return next(r for r in VLLM_LORA_RANKS if r >= rank)


class VLLMStudent:
    """The same interface as HFStudent (what the loop, evaluation and scoring use)."""

    def __init__(self, config: StudentConfig, student: HFStudent, gpu_share: float = 1.0):
        self.config = config
        self.hf = student
        self.name = student.name
        self.model = student.model
        self.max_new_tokens = student.max_new_tokens
        self.gpu_share = gpu_share
        self._adapter = None  # the LoRA request of the current weights, made on first use
        self._adapter_dir: tempfile.TemporaryDirectory | None = None

    def _lora(self):
        """The adapter as it is now, saved where vLLM can load it (a temporary folder,
        deleted when the weights change or the student goes: vLLM keeps a loaded
        adapter in memory, and an id is never asked for again)."""
        if self._adapter is None:
            from vllm.lora.request import LoRARequest

            self._adapter_dir = tempfile.TemporaryDirectory(prefix="elad-lora-")
            self.hf.model.save_pretrained(self._adapter_dir.name)
            number = next(_ADAPTER_IDS)
            self._adapter = LoRARequest(f"student-{number}", number,
                                        self._adapter_dir.name)
        return self._adapter

    def _engine(self):
        return engine(self.config, self.gpu_share)

    def generate(self, questions: list[str], k: int = 1, temperature: float = 0.0,
                 seed: int = 0) -> list[list[Generation]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        stops = set(self.hf.format.stops)
        # vLLM seeds the j-th of the n samples seed + j: half the range keeps it an int64
        params = [SamplingParams(n=k, temperature=temperature,
                                 seed=question_seed(seed, q) >> 1,
                                 logprobs=0, max_tokens=self.max_new_tokens,
                                 stop_token_ids=sorted(stops)) for q in questions]
        prompts = [TokensPrompt(prompt_token_ids=self.hf.prompt_ids(q)) for q in questions]
        outputs = self._engine().generate(prompts, params, lora_request=self._lora(),
                                          use_tqdm=bars_shown())
        return [[self._generation(c, stops) for c in out.outputs] for out in outputs]

    def _generation(self, completion, stops: set[int]) -> Generation:
        """A vLLM completion as the HF student reports it (the logprob of each sampled
        token is in `completion.logprobs`, asked for with logprobs=0)."""
        kept = [j for j, t in enumerate(completion.token_ids) if t not in stops]
        tokens = [completion.token_ids[j] for j in kept]
        logprobs = [completion.logprobs[j][completion.token_ids[j]].logprob
                    for j in kept] if completion.logprobs else [0.0] * len(kept)
        return Generation(self.hf.tokenizer.decode(tokens),
                          (completion.cumulative_logprob or 0.0)
                          / max(1, len(completion.token_ids)),
                          self.hf.line_min_logprobs(tokens, logprobs))

    def answer_probabilities(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        rows, spans = self.hf.answer_rows(items)
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0)
        outputs = self._engine().generate(
            [TokensPrompt(prompt_token_ids=row) for row in rows], params,
            lora_request=self._lora(), use_tqdm=bars_shown())
        return [answer_probability(out.prompt_logprobs, row, span)
                for out, row, span in zip(outputs, rows, spans)]

    def embed(self, questions: list[str]) -> torch.Tensor:
        return self.hf.embed(questions)

    def train(self, *args, **kwargs) -> dict:
        metrics = self.hf.train(*args, **kwargs)
        self._adapter = None  # new weights: the next request saves the adapter again
        if self._adapter_dir is not None:
            self._adapter_dir.cleanup()
        return metrics

    def save(self, directory: Path) -> None:
        self.hf.save(directory)


def answer_probability(prompt_logprobs, row: list[int], span: tuple[int, int]) -> float:
    """p(answer) from vLLM's prompt log-probabilities: per position, a dict from token id
    to an object with `.logprob` (None at position 0)."""
    start, end = span
    return math.exp(sum(prompt_logprobs[p][row[p]].logprob for p in range(start, end)))
