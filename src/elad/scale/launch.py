"""Round step 5 on several devices: the round's training as its own `accelerate launch`
job, while the loop, the teacher and the store stay in the one process that runs
`elad run`.

    elad run my.toml scale.train_processes=4              # DDP on 4 GPUs (CPU: gloo)
    elad run my.toml scale.accelerate_config=fsdp.yaml    # FSDP, DeepSpeed: as it says

The driver writes a job folder (job.json: the run's config, the targets as (question,
explanation) pairs, the steps and seed, the student to start from (the last round's
checkpoint, or the fresh student saved once) and where to save the result) and runs
`accelerate launch ... -m elad.scale.launch JOB`. Every process loads that student and runs
`training.fine_tune` on its share of every batch (so N processes take the steps one
process would); the gathered weights are saved by the first process into the round's
checkpoint folder, which the driver then loads. The job never sees the teacher.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from elad.config import ConfigError, RunConfig, ScaleConfig, ScaleError, config_from_json
from elad.rundir import METRICS, RunDir
from elad.seeding import phase_seed
from elad.student.protocol import Student

log = logging.getLogger("elad")


def launched(scale: ScaleConfig) -> bool:
    """Whether training runs as an accelerate launch job rather than in this process."""
    return scale.train_processes > 1 or bool(scale.accelerate_config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(scale: ScaleConfig, job: Path) -> list[str]:
    """`accelerate launch` with the config file, if any, else DDP over
    `train_processes` processes (torchrun; gloo on a CPU); a free port for the ranks."""
    command = [sys.executable, "-m", "accelerate.commands.launch",
               "--main_process_port", str(free_port())]
    if scale.accelerate_config:
        command += ["--config_file", scale.accelerate_config]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no", "--multi_gpu"]
    if scale.train_processes > 1:
        command += ["--num_processes", str(scale.train_processes)]
    return [*command, "-m", "elad.scale.launch", str(job)]


def train_launched(config: RunConfig, round: int, student: Student,
                   pairs: list[tuple[str, str]], steps: int, rundir: RunDir) -> dict:
    """Train on `pairs` as an accelerate launch job, starting from `student` (the last
    round's checkpoint, or `student` saved now when it is new); the result is round
    `round`'s checkpoint. Returns the training metrics; ScaleError if the job fails."""
    accelerate_config = config.scale.accelerate_config
    if accelerate_config and not Path(accelerate_config).is_file():
        raise ConfigError(f"scale.accelerate_config={accelerate_config}: no such file")
    job = Path(tempfile.mkdtemp(prefix="elad-train-"))
    start = rundir.checkpoint(round - 1)
    if round == 0 or not start.exists():
        start = job / "start"
        student.save(start)
    spec = {"config": config.to_json(), "start": str(start), "pairs": pairs,
            "steps": steps, "seed": phase_seed(config, round, "train")}
    command = launch_command(config.scale, job)
    # the processes import this very elad (a checkout, or the installed one)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    log.info("round %d: training as %s", round, " ".join(command))
    with open(job / "log.txt", "w") as output:

        def run_job(out: Path) -> None:
            (job / "job.json").write_text(json.dumps({**spec, "out": str(out)}))
            done = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT)
            if done.returncode != 0 or not (job / "metrics.json").is_file():
                raise ScaleError(
                    f"round {round}: the training job failed (exit {done.returncode}); its "
                    f"output is in {job / 'log.txt'}; the targets are stored, the same "
                    "command resumes")
            shutil.copy(job / "metrics.json", out / METRICS)  # kept with the checkpoint

        rundir.save_checkpoint(round, run_job)
    metrics = json.loads((job / "metrics.json").read_text())
    shutil.rmtree(job, ignore_errors=True)
    return metrics


def main(argv: list[str] | None = None) -> None:
    """One process of the job (run by `accelerate launch`, never by hand)."""
    from accelerate import Accelerator

    from elad.student import load_student
    from elad.student.pretrained import device_of
    from elad.training import Accelerated, Schedule, adamw, fine_tune

    job = Path((argv or sys.argv[1:])[0])
    spec = json.loads((job / "job.json").read_text())
    config = config_from_json(spec["config"])
    student_config = dataclasses.replace(config.student, backend="hf")  # no vLLM here
    on_cpu = config.student.kind == "tiny" or device_of(student_config).type == "cpu"
    accelerator = Accelerator(cpu=on_cpu)
    student = load_student(student_config, Path(spec["start"]))
    lr = config.student.learning_rate
    # not the schedule: a prepared one would step once per process each step
    model, optimizer = accelerator.prepare(student.model, adamw(student.model, lr))
    schedule = Schedule(steps=spec["steps"], lr=lr, seed=spec["seed"],
                        batch_size=config.student.train_batch_size)
    metrics = fine_tune(model, student.training_examples(spec["pairs"]), schedule,
                        student.pad_id, accelerated=Accelerated(accelerator, optimizer))
    state = accelerator.get_state_dict(model)  # gathered from every process
    if accelerator.is_main_process:
        student.save(Path(spec["out"]), state_dict=state)
        (job / "metrics.json").write_text(json.dumps(
            {**metrics, "processes": accelerator.num_processes}))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    # Leave without running destructors: freeing the DDP model's reducer holds the GIL
    # while its gloo process group joins a worker thread that may still need the GIL to
    # free the barrier's tensors, a deadlock (pytorch/pytorch#56297) that hung a job on
    # 2 CPU processes after its checkpoint and metrics were written.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
