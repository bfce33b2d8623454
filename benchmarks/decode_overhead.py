"""Host work per decode step of a LoRA student, with its adapter merged for decoding
(`student.hf.merged_lora`, the default) and without: aten operators a step and host
milliseconds a step, in the same run.

    python benchmarks/decode_overhead.py [--layers 18] [--rows 8] [--steps 16]

Why it matters: on the first GPU run (one H200, gemma-3-270m with LoRA on every linear
layer, 18 layers) a decode step of 128 rows took about 100 ms with the GPU busy 9-15% of
the time: the host, issuing one call per operator, was the bottleneck. The model here has
Gemma 3's layer count and layer types but the tests' tiny widths, so the compute is
negligible and what is timed is the host's share of a step; the operator count is the
same at any width. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]


def gemma3_shaped(directory: Path, layers: int) -> Path:
    """The tests' tiny Gemma 3 (its tokenizer too) with `layers` layers, five sliding-window
    layers to one global one as in Gemma 3."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_pretrained import build
    from transformers import AutoConfig, Gemma3ForCausalLM

    build(directory, "gemma3")
    config = AutoConfig.from_pretrained(directory)
    config.num_hidden_layers = layers
    config.layer_types = [("full_attention" if (i + 1) % 6 == 0 else "sliding_attention")
                          for i in range(layers)]
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(directory)
    return directory


def measure(student, prompts: list[list[int]], merged: bool, repeats: int = 3):
    """aten operators and host ms per decode step of one batch (after a warm-up), the
    adapter merged or not."""
    from elad.student.hf import merged_lora

    with merged_lora(student.model, merged):
        student._sample(prompts, 0.0, None)  # warm up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            out = student._sample(prompts, 0.0, None)
        started = time.perf_counter()
        for _ in range(repeats):
            student._sample(prompts, 0.0, None)
        seconds = (time.perf_counter() - started) / repeats
    done = max(len(tokens) for tokens, _, _ in out) + 1
    operators = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
    return operators / done, 1e3 * seconds / done, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=18, help="Gemma 3 270M has 18")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from elad.config import load_config
    from elad.student.pretrained import new_pretrained_student

    with tempfile.TemporaryDirectory() as work:
        model = gemma3_shaped(Path(work), args.layers)
        config = load_config(None, [
            "student.kind=hf", f"student.model={model}", "student.lora_rank=16",
            f"student.max_new_tokens={args.steps}", f"student.batch_size={args.rows}"])
        student = new_pretrained_student(config.student, seed=0)
        student.model.eval()
        questions = [f"what is {i} + {2 * i + 1}?" for i in range(args.rows)]
        prompts = [student.prompt_ids(q) for q in questions]
        rows = {merged: measure(student, prompts, merged) for merged in (False, True)}
    print(f"decode, Gemma 3 shape with {args.layers} layers (tiny widths), LoRA r16 on "
          f"every linear layer, {args.rows} rows, {rows[True][2]} steps, 1 thread")
    print(f"{'':>26} {'aten ops a step':>16} {'host ms a step':>15}")
    for merged, label in ((False, "adapter unmerged"), (True, "merged (the default)")):
        operators, ms, _ = rows[merged]
        print(f"{label:>26} {operators:16.0f} {ms:15.2f}")
    print(f"{'merged / unmerged':>26} {rows[True][0] / rows[False][0]:16.2f} "
          f"{rows[True][1] / rows[False][1]:15.2f}")


if __name__ == "__main__":
    main()
