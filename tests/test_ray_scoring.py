"""Round steps 1-2 on a local Ray cluster of 2 CPU workers (`scale.engine=ray`): the
same explanations, scores, chosen explanations, least stable steps and selection as
one process. The cluster is started once for the module (it takes seconds)."""

import pytest

from elad.bench import fork_seed_round
from elad.cli import main
from elad.config import load_config
from elad.loop import run
from elad.scale.ray_scoring import connect
from elad.store import RunStore

from conftest import TINY

# a student trained enough in round 0 to write answers, so the scores are not all ties
OVERRIDES = [*TINY, "max_rounds=1", "student.seed_train_steps=150",
             "student.learning_rate=0.006", "student.temperature=0.5"]
RAY = ["scale.engine=ray", "scale.workers=2", "scale.batch_questions=3"]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    connect(load_config(None, RAY).scale)
    assert ray.cluster_resources()["CPU"] == 2
    yield
    ray.shutdown()


def test_a_run_on_ray_scores_and_selects_as_one_process(tmp_path, ray_cluster):
    run(load_config(None, OVERRIDES), tmp_path / "local")
    # the Ray run starts from the same round 0 (student and targets), then scores on Ray
    fork_seed_round(tmp_path / "local", tmp_path / "ray",
                    load_config(None, OVERRIDES + RAY))
    assert main(["-q", "run", *OVERRIDES, *RAY, "--run-dir", str(tmp_path / "ray")]) == 0
    local, ray = RunStore(tmp_path / "local" / "run.sqlite"), RunStore(
        tmp_path / "ray" / "run.sqlite")
    assert ray.selection(1) == local.selection(1)
    mine, theirs = local.scores(1), ray.scores(1)
    assert [s.example_id for s in mine] == [s.example_id for s in theirs]  # same ranking
    for a, b in zip(mine, theirs):
        assert (b.chosen, b.least_stable_step, b.answers, b.greedy_answer) == (
            a.chosen, a.least_stable_step, a.answers, a.greedy_answer)
        assert (b.u, b.u_inter, b.u_intra, b.least_confidence) == pytest.approx(
            (a.u, a.u_inter, a.u_intra, a.least_confidence), abs=1e-6)
        for x, y in zip(local.explanations(1, a.example_id),
                        ray.explanations(1, a.example_id)):
            assert (y.steps, y.answer) == (x.steps, x.answer)
            assert y.mean_logprob == pytest.approx(x.mean_logprob, abs=1e-5)
    # the student wrote answers and steps: the comparison is not one of empty scores
    assert sum(s.least_stable_step is not None for s in mine) >= 4
    assert len({round(s.u, 6) for s in mine}) >= 8
    local.close()
    ray.close()
