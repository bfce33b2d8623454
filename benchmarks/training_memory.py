"""Peak memory and time of elad's training steps with the loss taken from the hidden
states a chunk at a time (training.vocabulary_head: torch's linear_cross_entropy) against
the model's own loss (the whole batch's logits), on a model whose vocabulary dominates
its size: a tiny Llama with Gemma 3's 262,144 tokens, rows padded (not packed).

    python benchmarks/training_memory.py [--rows 4] [--length 450] [--steps 3]

Each side runs in its own process (peak resident memory is per process); prints the
peak, seconds per step and the final loss of each, and the ratios."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one_side(chunked: bool, rows: int, length: int, steps: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from elad import training

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=262144, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        tie_word_embeddings=True))
    if not chunked:
        training._HEADS[model] = None  # the model's own loss
    generator = torch.Generator().manual_seed(1)
    examples = [(torch.randint(0, 262144, (length,), generator=generator).tolist(),
                 length // 4) for _ in range(rows * steps)]
    started = time.perf_counter()
    losses = training.fine_tune(model, examples, training.Schedule(
        steps=steps, lr=1e-3, seed=0, batch_size=rows, warmup=1, pack=False), pad_id=0)
    seconds = (time.perf_counter() - started) / steps
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "s_per_step": seconds, "loss": losses["train_loss"],
            "chunked": training.vocabulary_head(model) is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--length", type=int, default=450)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--side", choices=("chunked", "own"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(one_side(args.side == "chunked", args.rows, args.length,
                                  args.steps)))
        return
    result = {}
    for side in ("own", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--side", side, "--rows",
                              str(args.rows), "--length", str(args.length), "--steps",
                              str(args.steps)], capture_output=True, text=True, check=True)
        result[side] = json.loads(out.stdout.strip().splitlines()[-1])
        r = result[side]
        print(f"{side:>8} loss: peak {r['peak_mb']:7.0f} MB, {r['s_per_step']:6.2f} s a "
              f"step, loss {r['loss']:.5f}" + ("" if r["chunked"] == (side == "chunked")
                                                else " (path not taken!)"), flush=True)
    own, chunked = result["own"], result["chunked"]
    print(f"chunked / own: peak memory {chunked['peak_mb'] / own['peak_mb']:.2f}x, time a "
          f"step {chunked['s_per_step'] / own['s_per_step']:.2f}x "
          f"({args.rows} rows of {args.length} tokens, vocabulary 262,144)")


if __name__ == "__main__":
    main()
