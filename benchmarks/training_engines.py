"""elad's own training loop (`training.fine_tune`), with each step's rows packed into
shared lines (its default for the tiny student) and padded one per line, against TRL's
SFTTrainer on the tiny CPU student: the same targets, token sequences (loss on the
explanation only), steps, batch size, learning rate, warmup and cosine schedule, weight
decay and clipping.
Prints optimizer steps per second, the loss of the last tenth of the steps, and the
greedy accuracy of each trained student on held-out questions.

    OMP_NUM_THREADS=1 python benchmarks/training_engines.py --steps 300
    python benchmarks/training_engines.py --steps 4 --targets 16 --test 4 \
        student.hidden_size=32 student.layers=1   # a smoke test: seconds

Arguments after the options are `elad run` overrides (default: the offline default).

TRL's loss averages over its batches as elad's does; its data pipeline (datasets,
the collator, the Trainer's hooks and logging) is what costs more per step here.
"""

from __future__ import annotations

import argparse
import os
import time

from elad.answers import format_explanation
from elad.config import load_config
from elad.evaluate import accuracy
from elad.student import new_student
from elad.tasks import answer_type, load_task, synthetic
from elad.training import Schedule, fine_tune


def fresh(config, pool, pairs):
    return new_student(config.student, [e.question for e in pool] + [p[1] for p in pairs],
                       seed=0)


def train_with_trl(student, pairs, steps: int, lr: float, batch_size: int) -> dict:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast
    from trl import SFTConfig, SFTTrainer

    rows = [{"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]}
            for ids, prompt in student.training_examples(pairs)]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=student.tokenizer, bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    args = SFTConfig(
        output_dir="/tmp/elad-trl-bench", max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=lr, lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1}, warmup_steps=20, weight_decay=0.01,
        adam_beta2=0.98, max_grad_norm=1.0, logging_steps=max(1, steps // 10),
        report_to="none", save_strategy="no", use_cpu=True, dataloader_num_workers=0,
        seed=0, max_length=None, disable_tqdm=True)
    trainer = SFTTrainer(model=student.model, args=args,
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.train()
    student.model.eval()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"train_loss": losses[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--targets", type=int, default=300)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("overrides", nargs="*", help="`elad run` overrides, key=value")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    config = load_config(None, args.overrides)
    data = load_task(config.task, 0)
    pairs = [(e.question, format_explanation(*synthetic.solve(e.question)))
             for e in data.pool[:args.targets]]
    lr, batch_size = config.student.learning_rate, config.student.train_batch_size
    print(f"{config.student.hidden_size}x{config.student.layers} tiny student, "
          f"{len(pairs)} targets, {args.steps} steps of {batch_size}, lr {lr}")
    print(f"{'engine':<22} {'steps/s':>8} {'last loss':>10} {'accuracy':>9}")
    for name in ("elad fine_tune", "elad fine_tune, padded", "TRL SFTTrainer"):
        student = fresh(config, data.pool, pairs)
        started = time.perf_counter()
        if name.startswith("elad"):
            schedule = Schedule(args.steps, lr, 0, batch_size, pack="padded" not in name)
            metrics = fine_tune(student.model, student.training_examples(pairs), schedule,
                                student.pad_id)
        else:
            metrics = train_with_trl(student, pairs, args.steps, lr, batch_size)
        wall = time.perf_counter() - started
        test_accuracy, _ = accuracy(student, data.test[:args.test], answer_type)
        print(f"{name:<22} {args.steps / wall:>8.2f} {metrics['train_loss']:>10.4f} "
              f"{test_accuracy:>9.3f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
