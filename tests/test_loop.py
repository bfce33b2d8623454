"""The whole loop on a very small config: rounds, budget, resume, stop rules."""

import json
import re

import pytest

from elad.config import ConfigError, load_config
from elad.loop import run
from elad.seeding import phase_seed
from elad.store import RunStore

from conftest import TINY


def test_rounds_run_end_to_end_and_rerun_makes_no_calls(tmp_path, tiny_config):
    records, teacher = run(tiny_config, tmp_path)
    assert [r.round for r in records] == [0, 1, 2]
    assert records[-1].stop_reason == "max rounds"
    assert records[0].n_labeled == 16 and records[0].confirmed_fraction is None
    assert records[0].accuracy_before is None  # a student from scratch: nothing to test
    assert records[1].n_labeled <= 16 + 8
    assert teacher.new_calls == records[-1].teacher_calls
    assert all(0 <= r.test_accuracy <= 1 for r in records)
    assert records[-1].cost_usd <= tiny_config.budget_usd
    costs = [r.cost_usd for r in records]
    assert costs == sorted(costs) and costs[0] > 0

    store = RunStore(tmp_path / "run.sqlite")
    targets = store.targets()
    assert len(targets) == records[-1].n_labeled
    assert {t.round for t in targets} == {0, 1, 2}
    assert store.scores(0) == []  # its round 0 is random: nothing to rank with
    scores = store.scores(1)
    assert len(scores) == 12 and all(0 <= s.u <= 1 for s in scores)
    selected = store.selection(1)
    u = {s.example_id: s.u for s in scores}  # the highest scores, ties in any order
    assert min(u[q] for q in selected) >= max(u[q] for q in u if q not in selected)
    calls = store.db.execute("SELECT op, round FROM teacher_calls").fetchall()
    assert {op for op, r in calls if r == 0} == {"annotate"}
    assert {op for op, r in calls if r > 0} == {"revise"}
    store.close()

    again, teacher = run(tiny_config, tmp_path)
    assert teacher.new_calls == 0
    assert again == records


def test_revision_target_keeps_the_students_right_steps(tmp_path, tiny_config):
    run(tiny_config, tmp_path)
    store = RunStore(tmp_path / "run.sqlite")
    rows = store.db.execute(
        "SELECT request, reply FROM teacher_calls WHERE op = 'revise'").fetchall()
    targets = {t.question: t for t in store.targets()}
    for request, reply in rows:
        request, reply = json.loads(request), json.loads(reply)
        target = targets[request["question"]]
        kept = len(request["steps"]) if reply["first_error"] is None \
            else reply["first_error"] - 1
        assert target.steps == request["steps"][:kept] + reply["steps"]
        assert target.no_wrong_step == (reply["first_error"] is None)
    store.close()


def test_annotate_mode_with_random_selection(tmp_path):
    config = load_config(None, [*TINY, "mode=annotate", "strategy=random", "max_rounds=1",
                                "candidates=40"])
    records, _ = run(config, tmp_path)
    # saturation in every mode: an annotation with the student's own answer counts
    assert 0 <= records[-1].confirmed_fraction <= 1
    store = RunStore(tmp_path / "run.sqlite")
    assert {r[0] for r in store.db.execute("SELECT op FROM teacher_calls")} == {"annotate"}
    # random ranks nothing: it explains two rounds' worth of the 40 candidates, not all
    explained = {s.example_id for s in store.scores(1)}
    assert len(explained) == 2 * config.round_size
    assert set(store.selection(1)) <= explained and len(store.selection(1)) == 8
    store.close()


def test_budget_is_never_exceeded_and_stops_the_run(tmp_path):
    config = load_config(None, [*TINY, "budget_usd=0.02", "max_rounds=10"])
    records, _ = run(config, tmp_path)
    assert records[-1].stop_reason == "budget spent"
    assert records[-1].cost_usd <= 0.02
    assert len(records) < 11


def test_a_round_cut_by_the_budget_says_so(tmp_path, caplog):
    """A seed round of 16 that only part of fits in the budget takes that part and
    says so (it was silent), with how much was left."""
    config = load_config(None, [*TINY, "budget_usd=0.004", "max_rounds=0"])
    records, _ = run(config, tmp_path)
    cut = re.search(r"round 0: (\d+) of 16 questions fit in what is left of the budget "
                    r"\(\$0\.0040;", caplog.text)
    assert cut and 0 < int(cut[1]) < 16 and records[0].teacher_calls == int(cut[1])


def test_saturation_stops_the_run(tmp_path):
    # theta = 0.0001: any confirmed explanation saturates; with none confirmed it goes on
    config = load_config(None, [*TINY, "saturation=0.0001", "max_rounds=3"])
    records, _ = run(config, tmp_path)
    for record in records[1:-1]:
        assert record.confirmed_fraction == 0
    last = records[-1]
    assert last.stop_reason == "saturated" or (last.stop_reason == "max rounds"
                                               and last.confirmed_fraction == 0)


def test_changed_config_on_existing_run_dir_is_refused(tmp_path, tiny_config):
    config = load_config(None, [*TINY, "max_rounds=0"])
    run(config, tmp_path)
    other = load_config(None, [*TINY, "max_rounds=0", "strategy=random"])
    with pytest.raises(ConfigError, match=r"strategy='targeted' \(not 'random'\)"):
        run(other, tmp_path)


def test_budget_too_small_for_one_request(tmp_path):
    config = load_config(None, [*TINY, "budget_usd=0.0001"])
    with pytest.raises(ConfigError, match="does not cover one teacher request"):
        run(config, tmp_path)


@pytest.mark.parametrize("strategy", ["random", "entropy", "least-confidence", "intra"])
def test_every_strategy_runs_and_selects_by_its_ranking(tmp_path, strategy):
    from elad.strategies import rank

    # the ranking alone (cost_aware, the default, divides it by each request's dollars)
    config = load_config(None, [*TINY, f"strategy={strategy}", "max_rounds=1",
                                "cost_aware=false"])
    records, _ = run(config, tmp_path)
    assert records[-1].strategy == strategy and records[-1].n_labeled > 16
    store = RunStore(tmp_path / "run.sqlite")
    selected = store.selection(1)
    ranked = [s.example_id for s in rank(strategy, store.scores(1),
                                         phase_seed(config, 1, "rank"))]
    if strategy != "random":
        assert selected == ranked[: len(selected)]
    assert all(0 <= s.least_confidence <= 1 for s in store.scores(1))
    store.close()


def test_random_draws_uniformly_whatever_cost_aware_says(tmp_path):
    selections = []
    for cost_aware in ("true", "false"):
        config = load_config(None, [*TINY, "strategy=random", "max_rounds=1",
                                    f"cost_aware={cost_aware}"])
        run(config, tmp_path / cost_aware)
        with RunStore(tmp_path / cost_aware / "run.sqlite") as store:
            selections.append(store.selection(1))
    assert selections[0] == selections[1] and selections[0]


def test_diversity_filter_in_a_run(tmp_path):
    from elad.rundir import RunDir
    from elad.student import load_student

    config = load_config(None, [*TINY, "max_rounds=1", "max_similarity=0.9"])
    run(config, tmp_path)
    store = RunStore(tmp_path / "run.sqlite")
    pool = {e.id: e.question for e in store.examples("pool")}
    selected = store.selection(1)
    store.close()
    student = load_student(config.student, RunDir.open(tmp_path).checkpoint(0))
    vectors = student.embed([pool[q] for q in selected])
    similarity = vectors @ vectors.T
    off_diagonal = similarity - 2 * __import__("torch").eye(len(selected))
    assert float(off_diagonal.max()) <= 0.9 + 1e-5
