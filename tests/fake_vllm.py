"""A stand-in for the few parts of vLLM that `elad.student.vllm` calls, for machines
without a GPU (vLLM cannot run here). It answers in vLLM's shapes (a request output's
`outputs` with `token_ids`, `logprobs` and `cumulative_logprob`, its `prompt_logprobs`
with None first), computed with transformers on the base model plus the LoRA adapter
loaded from the request's folder, once per adapter id as vLLM does. Like vLLM, the
log-probs are the model's own (before the temperature) and a stop token ends a
completion and stays in its `token_ids`. What it cannot vouch for is vLLM itself:
benchmarks/gpu_check.py runs the real one."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import ClassVar, TypedDict

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    seed: int | None = None
    logprobs: int | None = None
    prompt_logprobs: int | None = None
    max_tokens: int = 16
    stop_token_ids: list[int] | None = None


class TokensPrompt(TypedDict):  # a dict, as in vLLM
    prompt_token_ids: list[int]


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@dataclass
class Logprob:
    logprob: float


class LLM:
    started: ClassVar[list[dict]] = []  # every engine's arguments, in order
    seeds: ClassVar[list[int]] = []  # every sampling request's seed

    def __init__(self, model: str, **options):
        LLM.started.append({"model": model, **options})
        self.path = model
        self.adapters: dict[int, torch.nn.Module] = {}

    def _model(self, lora: LoRARequest) -> torch.nn.Module:
        if lora.lora_int_id not in self.adapters:  # read once, then kept in memory
            base = AutoModelForCausalLM.from_pretrained(self.path)
            self.adapters[lora.lora_int_id] = PeftModel.from_pretrained(
                base, lora.lora_path).eval()
        return self.adapters[lora.lora_int_id]

    @torch.no_grad()
    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        model = self._model(lora_request)
        if not isinstance(params, list):
            params = [params] * len(prompts)
        outputs = []
        for prompt, p in zip(prompts, params):
            row = prompt["prompt_token_ids"]
            logp = torch.log_softmax(model(input_ids=torch.tensor([row])).logits[0], -1)
            outputs.append(types.SimpleNamespace(
                prompt_logprobs=[None] + [{row[i]: Logprob(logp[i - 1, row[i]].item())}
                                          for i in range(1, len(row))]
                if p.prompt_logprobs is not None else None,
                outputs=[self._complete(model, row, p, j) for j in range(p.n)]))
        return outputs

    def _complete(self, model, row: list[int], p: SamplingParams, j: int):
        if p.temperature > 0:
            LLM.seeds.append(p.seed)
            generator = torch.Generator().manual_seed(p.seed + j)
        tokens, logprobs = [], []
        for _ in range(p.max_tokens):
            logits = model(input_ids=torch.tensor([row + tokens])).logits[0, -1]
            logp = torch.log_softmax(logits, -1)
            token = int(logp.argmax()) if p.temperature == 0 else int(torch.multinomial(
                torch.softmax(logits / p.temperature, -1), 1, generator=generator))
            tokens.append(token)
            logprobs.append({token: Logprob(logp[token].item())})
            if token in (p.stop_token_ids or []):
                break
        return types.SimpleNamespace(
            token_ids=tokens, logprobs=logprobs if p.logprobs is not None else None,
            cumulative_logprob=sum(lp[t].logprob for lp, t in zip(logprobs, tokens)))


def install(monkeypatch=None) -> type[LLM]:
    """Make `import vllm` (and the submodules elad uses) find this stand-in; with
    `monkeypatch` (a test's), only until the test ends."""
    LLM.started, LLM.seeds = [], []
    modules = {name: types.ModuleType(name) for name in
               ("vllm", "vllm.inputs", "vllm.lora", "vllm.lora.request")}
    modules["vllm"].LLM, modules["vllm"].SamplingParams = LLM, SamplingParams
    modules["vllm"].__version__ = "stand-in (tests/fake_vllm.py)"
    modules["vllm.inputs"].TokensPrompt = TokensPrompt
    modules["vllm.lora.request"].LoRARequest = LoRARequest
    for name, module in modules.items():
        if monkeypatch:
            monkeypatch.setitem(sys.modules, name, module)
        else:
            sys.modules[name] = module
    return LLM
