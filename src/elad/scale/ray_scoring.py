"""Round steps 1-2 on a Ray cluster (`scale.engine=ray`): the same `Scored` result as
`explain.explain_and_score` in one process, computed by `scale.workers` actors.

    ray start --head --num-cpus 8                 # or a cluster; RAY_ADDRESS=... to join
    elad run my.toml scale.engine=ray scale.workers=8

The candidates become a Ray Data dataset cut into batches of `scale.batch_questions`;
each actor loads the round's student once from its checkpoint (the files travel through
the object store, so the workers need not share a disk; a hub model named by
`student.model` must be loadable on every node) and runs `explain.explain_and_score` on
the batches it is given (transformers on a CPU, vLLM on a GPU with
`scale.gpus_per_worker=1`). Results come back to the driver, which alone talks to the
teacher and writes the store. elad's own code is shipped with the job (`py_modules`);
its dependencies must be installed on the cluster.

Equal to one process: each question's samples come from its own random stream
(`student.hf.question_seed`), so they do not depend on the shard; the prefix
confidences and mean log-probabilities are computed in batches padded differently and
may differ in the last float bits (tests/test_ray_scoring.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import tempfile
from pathlib import Path

from elad.config import ConfigError, RunConfig, ScaleConfig, ScaleError, config_from_json
from elad.explain import Scored, explain_and_score
from elad.progress import bars_shown
from elad.types import Example, Explanation, Score

log = logging.getLogger("elad")
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def connect(scale: ScaleConfig) -> None:
    """Join the Ray cluster at `scale.ray_address` (or $RAY_ADDRESS), or start a local
    one with CPUs for `scale.workers` actors; nothing when this process is connected."""
    try:
        import ray
    except ImportError:
        raise ConfigError("scale.engine=ray needs ray: pip install 'elad[ray]'") from None
    if ray.is_initialized():
        return
    address = scale.ray_address or os.environ.get("RAY_ADDRESS") or None
    local = {} if address else {
        "num_cpus": max(1, math.ceil(scale.workers * scale.cpus_per_worker))}
    handlers = {stop: signal.getsignal(stop) for stop in STOPS}
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env={"py_modules": [str(Path(__file__).parents[1])]}, **local)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise ConfigError(f"scale.ray_address={address}: cannot join the Ray cluster "
                          f"({str(error).splitlines()[0]})") from None
    finally:  # Ray's own SIGTERM handler aborts the process: a run stops as on Ctrl-C
        for stop, handler in handlers.items():
            if handler is not None:
                signal.signal(stop, handler)
    log.info("Ray cluster %s: %s", address or "(local)", ray.cluster_resources())


def checkpoint_files(directory: Path) -> dict[str, bytes]:
    """Every file of a checkpoint folder, by its path inside it."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


class ScoringActor:
    """One Ray actor: the round's student, loaded once, explaining and scoring batches
    of candidates exactly as one process would."""

    def __init__(self, config_json: str, files: list, seed: int):
        import ray

        from elad.student import load_student

        self.config = config_from_json(config_json)
        self.seed = seed
        with tempfile.TemporaryDirectory(prefix="elad-student-") as folder:
            for name, data in ray.get(files[0]).items():  # in a list: not resolved by Ray
                (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(folder) / name).write_bytes(data)
            share = self.config.scale.gpus_per_worker  # actors sharing a GPU split it
            self.student = load_student(self.config.student, Path(folder),
                                        gpu_share=share if 0 < share < 1 else 1.0)

    def __call__(self, batch: dict) -> dict:
        from elad.tasks import answer_type

        examples = [Example(str(i), str(t), str(q)) for i, t, q in
                    zip(batch["id"], batch["task"], batch["question"])]
        scored = explain_and_score(self.student, examples, answer_type, self.config,
                                   self.seed)
        return {"id": [e.id for e in examples], "worker": [os.getpid()] * len(examples),
                "result": [json.dumps(encode(scored, e.id, s))
                           for e, s in zip(examples, scored.scores)]}


def encode(scored: Scored, qid: str, score: Score) -> dict:
    return {"explanations": [dataclasses.asdict(e) for e in scored.explanations[qid]],
            "confidences": scored.confidences[qid], "score": dataclasses.asdict(score)}


def explain_and_score_on_ray(config: RunConfig, checkpoint: Path, examples: list[Example],
                             seed: int) -> Scored:
    """`explain.explain_and_score` of the student saved in `checkpoint`, over `examples`,
    on the actors of a Ray cluster; results in the order of `examples`."""
    connect(config.scale)
    import ray
    import ray.data

    scale = config.scale
    ray.data.DataContext.get_current().enable_progress_bars = bars_shown()
    logging.getLogger("ray.data").setLevel(logging.INFO if bars_shown() else logging.ERROR)
    files = ray.put(checkpoint_files(checkpoint))
    rows = [{"id": e.id, "task": e.task, "question": e.question} for e in examples]
    blocks = max(1, min(len(rows), math.ceil(len(rows) / scale.batch_questions)))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        ScoringActor, batch_size=scale.batch_questions, batch_format="numpy",
        fn_constructor_args=(config.to_json(), [files], seed),
        compute=ray.data.ActorPoolStrategy(size=min(scale.workers, blocks)),
        num_cpus=scale.cpus_per_worker, num_gpus=scale.gpus_per_worker)
    try:
        returned = list(dataset.iter_rows())
    except Exception as error:  # a worker failed: nothing was paid in this round yet
        last = (str(error).strip().splitlines() or [""])[-1]
        raise ScaleError(f"scoring on Ray failed ({type(error).__name__}: {last}); nothing "
                         "was sent to the teacher this round, the same command resumes"
                         ) from error
    results = {row["id"]: json.loads(row["result"]) for row in returned}
    log.info("scored %d candidates on %d Ray actors", len(results),
             len({row["worker"] for row in returned}))
    missing = [e.id for e in examples if e.id not in results]
    if missing:
        raise ScaleError(f"scoring on Ray returned no result for {len(missing)} "
                         f"candidates (the first: {missing[0]})")
    return Scored(
        {e.id: [Explanation(**x) for x in results[e.id]["explanations"]] for e in examples},
        {e.id: results[e.id]["confidences"] for e in examples},
        [Score(**results[e.id]["score"]) for e in examples])
