"""`elad bench`: the shared seed round, the grid on a very small config, the regimes, the
metrics."""

import dataclasses
import json

import pytest
from conftest import TINY

from elad.bench import fork_seed_round, grid
from elad.bench_names import CONFIGURATIONS, SEEDS
from elad.cli import main
from elad.config import ConfigError, RunConfig, load_config
from elad.loop import run
from elad.reading.bench_numbers import spread
from elad.reading.curves import accuracy_at, cost_to_reach, curve_area
from elad.regimes import bench_sized, description, regime_config, regime_names
from elad.rundir import stored_config
from elad.store import RunStore
from elad.student import warm
from elad.types import Example, Score, TeacherReply


def test_a_forked_run_equals_the_run_made_from_scratch(tmp_path):
    config = load_config(None, [*TINY, "max_rounds=1"])
    straight, _ = run(config, tmp_path / "straight")

    base = load_config(None, [*TINY, "max_rounds=0", "strategy=random", "mode=annotate"])
    run(base, tmp_path / "base")
    fork_seed_round(tmp_path / "base", tmp_path / "forked", config)
    copied = RunStore(tmp_path / "forked" / "run.sqlite")
    assert [(r.round, r.strategy, r.mode, r.stop_reason) for r in copied.rounds()] == [
        (0, "targeted", "revise", "")]
    copied.close()
    assert (tmp_path / "forked" / "checkpoints" / "round-0" / "tokenizer.json").exists()
    forked, teacher = run(config, tmp_path / "forked")

    assert forked == straight  # every round: cost, tokens, accuracy, strategy, mode
    assert teacher.new_calls == straight[-1].teacher_calls - straight[0].teacher_calls
    stores = [RunStore(tmp_path / name / "run.sqlite") for name in ("straight", "forked")]
    assert stores[0].targets() == stores[1].targets()
    assert [stores[0].selection(r) for r in (0, 1)] == \
        [stores[1].selection(r) for r in (0, 1)]
    assert stores[0].teacher_calls() == stores[1].teacher_calls()
    for store in stores:
        store.close()
    assert not (tmp_path / "forked.partial").exists()


def test_a_seed_round_made_differently_is_not_shared(tmp_path):
    run(load_config(None, [*TINY, "max_rounds=0"]), tmp_path / "base")
    other = load_config(None, [*TINY, "seed_size=12"])
    with pytest.raises(ConfigError, match="seed_size=16, not 12"):
        fork_seed_round(tmp_path / "base", tmp_path / "forked", other)
    other = load_config(None, [*TINY, "student.seed_train_steps=17"])
    with pytest.raises(ConfigError, match="student.seed_train_steps=16, not 17"):
        fork_seed_round(tmp_path / "base", tmp_path / "forked", other)
    assert not (tmp_path / "forked").exists()


def test_the_grid_holds_what_is_compared(tiny_config):
    pairs = (("random", "annotate"), ("random", "revise"), ("elad", "annotate"),
             ("elad", "revise"))
    runs = grid(tiny_config, pairs, (0, 1), whole_pool=True)
    names = [r.name for r in runs]
    assert names[:6] == ["seed-round-s0", "random-annotate-s0", "random-revise-s0",
                         "elad-annotate-s0", "elad-revise-s0", "whole-pool-s0"]
    assert len(runs) == 12
    whole = runs[5].config
    assert whole.seed_size == whole.task.pool_size == 120 and whole.max_rounds == 0
    # as many optimizer steps as a grid run makes: 16, then per round 24 passes over
    # its 24 and 32 targets in batches of 32 (more than train_steps=8)
    assert whole.student.seed_train_steps == 16 + 18 + 24
    assert runs[7].config.seed == 1 and runs[0].config.max_rounds == 0


def test_bench_runs_the_grid_then_reuses_it(tmp_path, capsys):
    top = tmp_path / "bench"
    args = ["-q", "bench", *TINY, "max_rounds=1", "--out", str(top), "--regimes", "cold",
            "--strategies", "random,elad", "--modes", "annotate,revise", "--seeds", "0",
            "--whole-pool"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "random/annotate" in first and "elad/revise" in first and "whole pool" in first
    assert "against random/annotate (paired over seeds" in first
    # max_rounds=1 ends every run far below the $0.5 budget: the areas' flat tails said
    assert "  (every run stopped by $0.0" in first and "of the $0.5 budget (max rounds)" \
        in first
    assert "elad/revise: teacher $ per target after the seed round" in first
    table = first.split("\n\n")[2]
    assert table.startswith("configuration")
    out = top / "cold"  # the regime's grid

    summary = json.loads((out / "bench.json").read_text())
    assert [c["label"] for c in summary["configurations"]] == [
        "random/annotate", "random/revise", "elad/annotate", "elad/revise"]
    assert summary["whole_pool"]["accuracy"]["n"] == 1
    runs = {r["name"]: r for r in summary["runs"]}
    # the cost to reach the baseline's final accuracy, or nothing to reach where the
    # tiny baseline ended no higher than its seed round
    baseline = runs["random-annotate-s0"]["accuracies"]
    assert ("  elad/revise: reaches random/annotate's final accuracy at" in first) == (
        baseline[-1] > baseline[0])
    assert ("  elad/revise: nothing to reach (random/annotate ended no higher than its "
            "seed round)" in first) == (baseline[-1] <= baseline[0])
    assert runs["whole-pool-s0"]["targets"] == 120
    assert runs["whole-pool-s0"]["stop_reason"] == "pool exhausted"
    seed_cost = runs["elad-revise-s0"]["costs"][0]
    assert all(r["costs"][0] == seed_cost for r in runs.values() if r["kind"] == "grid")
    revise = runs["elad-revise-s0"]
    assert revise["output_tokens_per_target_after_seed"] is not None
    for name in ("index.html", "accuracy_vs_cost_revise.png",
                 "accuracy_vs_cost_annotate.png", "tokens_per_target.png"):
        assert (out / name).stat().st_size > 0
    index = (out / "index.html").read_text()
    assert 'href="runs/elad-revise-s0/report.html"' in index and "<script" not in index
    assert (out / "runs" / "elad-revise-s0" / "report.html").exists()
    for name in ("random-revise-s0", "elad-annotate-s0", "elad-revise-s0", "whole-pool-s0"):
        # each report compares with the whole random-annotate run, however the runs
        # finished (2 at a time here)
        page = (out / "runs" / name / "report.html").read_text()
        assert "Baseline: random-annotate-s0 (random, annotate)." in page, name
    assert "Against the baseline" not in (
        out / "runs" / "random-annotate-s0" / "report.html").read_text()

    # no grid run stops for saturation: every configuration spends the same money
    assert {stored_config(out / "runs" / name).saturation for name in runs} == {1.0}

    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["runs"]) == set(runs) | {"seed-round-s0"}
    assert [i["runs_made"] for i in timings["invocations"]] == [6]

    assert main(args) == 0  # everything is reused: the same table
    again = capsys.readouterr().out
    assert again.count("reused") == 6
    assert again.split("\n\n")[2] == table
    assert json.loads((out / "timings.json").read_text()) == timings  # nothing was made
    assert json.loads((out / "bench.json").read_text())["wall_s"] == summary["wall_s"] > 0
    # a finished run made with another config is not taken for this grid's
    assert main([*args[:2], "alpha=0.3", *args[2:]]) == 2
    err = capsys.readouterr().err
    # in the bench's words: the grid and its --out, before any run is made
    assert f"{out} holds a grid made with alpha=" in err and "another --out" in err
    assert "seed-round" not in err and "--run-dir" not in err
    # a run may raise its explanations' length; a grid may not: its finished runs'
    # figures were measured at the old one
    longer = [a.replace("max_new_tokens=48", "max_new_tokens=64") for a in args]
    assert main(longer) == 2
    said = capsys.readouterr().err
    assert f"{out} holds a grid made with student.max_new_tokens=" in said
    assert json.loads((out / "timings.json").read_text()) == timings

    assert main(["report", str(top)]) == 2  # the bench, not one of its runs
    assert "holds no run (no run.sqlite) (it holds a bench: its runs are " \
        "REGIME/runs/NAME in it" in capsys.readouterr().err
    report = out / "runs" / "random-annotate-s0" / "report.html"
    report.unlink()
    assert main(["report", str(report.parent)]) == 0  # a grid run is an ordinary run
    assert "round  labeled" in capsys.readouterr().out and report.exists()


def test_the_bench_sizes_apply_where_the_config_leaves_the_default(tmp_path):
    default = load_config(None, [])
    sized = bench_sized(default)
    assert (sized.candidates, sized.task.test_size) == (400, 200)  # the default's m
    assert dataclasses.replace(sized, task=default.task) == default
    named = bench_sized(load_config(None, ["task.test_size=300"]), ["task.test_size"])
    assert named.task.test_size == 300  # named: kept
    path = tmp_path / "mine.toml"
    path.write_text('candidates = 300\n[task]\nkind = "gsm8k"\n[teacher]\nkind = "reference"\n')
    mine = bench_sized(load_config(path))
    assert (mine.candidates, mine.task.test_size) == (300, 0)  # a dataset's test set: its own


def test_the_default_grid_follows_the_default_run():
    default = (RunConfig().strategy, RunConfig().mode)
    assert CONFIGURATIONS[0] == ("random", "annotate") and default in CONFIGURATIONS
    assert len(CONFIGURATIONS) == 2  # revision's worth: benchmarks/revision_savings.py
    assert SEEDS == (0, 1, 2, 3, 4, 5, 6, 7)
    assert regime_names(None, RunConfig()) == ("cold", "warm")
    pretrained = load_config(None, ["student=hf", "student.model=acme/base-1b"])
    assert regime_names(None, pretrained) == ("cold",)  # the curriculum is the tiny's
    assert description("cold", pretrained) == ("the config's student (acme/base-1b), with "
                                               "no curriculum")  # no tiny one from scratch
    with pytest.raises(ConfigError, match="--regimes: hot is not a regime"):
        regime_names(["warm", "hot"], RunConfig())


def test_a_regime_is_what_it_says_unless_it_is_the_only_one():
    unset = [item for item in TINY if not item.startswith("student.warmup=")]
    default = load_config(None, unset)  # warmup=auto: warm, on the synthetic task
    assert regime_config(default, "warm") == default
    cold = regime_config(default, "cold")
    assert cold.student.warmup == "none" and cold.task == default.task
    said_cold = load_config(None, [*unset, "student.warmup=none"])
    with pytest.raises(ConfigError, match="the warm regime sets student.warmup='curriculum' "
                                          "but the config says student.warmup='none'"):
        regime_config(said_cold, "warm")
    # named on the command line, even at its default value, it is the user's
    with pytest.raises(ConfigError, match="student.warmup='none' but the config says "
                                          "student.warmup='curriculum'"):
        regime_config(default, "cold", given={"student.warmup"})
    assert regime_config(default, "warm", given={"student.warmup"}) == default
    # one regime benched alone: the user's value is kept
    assert regime_config(said_cold, "warm", strict=False).student.warmup == "none"
    # a task the warm student cannot start on says which regime to bench instead
    gsm8k = load_config(None, [*unset, "task.kind=gsm8k", "task.path=.", "teacher=reference"])
    with pytest.raises(ConfigError, match=r"the warm regime \(student.warmup=curriculum\): "
                                          r"student.warmup must be none unless .*; bench "
                                          r"the others alone \(--regimes cold\)"):
        regime_config(gsm8k, "warm")


def test_bench_makes_a_grid_per_regime_and_a_summary_over_them(tmp_path, monkeypatch,
                                                                capsys):
    # the warm student every run loads, built small (seconds) where the runs look for it
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "cache"))
    student = load_config(None, TINY).student
    warm.build_warm(student, warm.warm_dir(student), {**warm.WARMUP, "questions": 60,
                                                      "beginnings": 15,
                                                      "corpus_questions": 30,
                                                      "train_steps": 6})
    out = tmp_path / "bench"
    unset = [item for item in TINY if not item.startswith("student.warmup=")]
    args = ["-q", "bench", *unset, "max_rounds=1", "--out", str(out), "--configs",
            "random/annotate,elad/annotate", "--seeds", "0"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "regime cold: the tiny student trained from scratch" in printed
    # no whole-pool reference: its columns are unknown, not 'never' reached
    row = next(line for line in printed.splitlines() if line.startswith("elad/annotate "))
    assert "never" not in row and row.split()[5:7] == ["-", "-"], row
    assert "regime warm: the tiny student first trained on" in printed

    summary = json.loads((out / "bench.json").read_text())
    assert [r["name"] for r in summary["regimes"]] == ["cold", "warm"]
    assert summary["regimes"][1]["overrides"]["student.warmup"] == "curriculum"
    for regime, warmup in (("cold", "none"), ("warm", "curriculum")):
        [entry] = [r for r in summary["regimes"] if r["name"] == regime]
        # the regime's own grid, in full, and its comparisons in the summary over both
        assert json.loads((out / regime / "bench.json").read_text()) == entry["bench"]
        assert list(entry["bench"]["comparisons"]["against_baseline"]) == ["elad/annotate"]
        assert (out / regime / "index.html").stat().st_size > 0
        for name in ("seed-round-s0", "random-annotate-s0", "elad-annotate-s0"):
            config = stored_config(out / regime / "runs" / name)
            assert config.student.warmup == warmup
        # the warm student ranks its own round 0; the cold runs share a random one
        with RunStore(out / regime / "runs" / "elad-annotate-s0" / "run.sqlite") as store:
            assert bool(store.scores(0)) == (regime == "warm")
    index = (out / "index.html").read_text()
    assert "Regime cold" in index and 'href="warm/index.html"' in index
    # per regime, the comparison line: the cost to reach the baseline's final accuracy,
    # or nothing to reach where the tiny baseline ended no higher than its seed round
    assert index.count("elad/annotate: reaches random/annotate&#x27;s final accuracy") + \
        index.count("elad/annotate: nothing to reach (random/annotate ended") == 2

    assert main(args) == 0  # resumed: every run of both grids is reused
    assert capsys.readouterr().out.count("reused") == 6
    # a config that contradicts a regime is refused before anything is made
    assert main([*args[:2], "student.warmup=none", *args[2:]]) == 2
    assert "the warm regime sets student.warmup='curriculum'" in capsys.readouterr().err


def test_bench_on_a_dataset_task_with_the_reference_teacher(tmp_path, capsys, shared_data):
    """The summary finds a dataset question's hidden answer through the run's task
    config (it used to crash here after making every run)."""
    out = tmp_path / "bench"
    args = ["-q", "bench", *TINY, "max_rounds=1", "task.kind=gsm8k",
            f"task.path={shared_data / 'gsm8k'}", "teacher.kind=reference",
            "--out", str(out), "--strategies", "random,elad", "--modes", "revise",
            "--seeds", "0"]  # the default regimes: cold alone (the warm one's curriculum
    assert main(args) == 0  # is the synthetic tasks'; it was refused)
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["cold"]
    summary = json.loads((out / "cold" / "bench.json").read_text())
    [elad] = [c for c in summary["configurations"] if c["strategy"] == "elad"]
    # the hidden answers were found: how often the student was wrong is known
    assert elad["candidates_wrong"]["n"] == 1 and elad["auroc"]["of"] == 1
    assert "elad/revise" in capsys.readouterr().out


def test_accuracy_at_cost_area_and_cost_to_reach():
    costs, accuracies = [0.1, 0.2, 0.4], [0.5, 0.7, 0.6]
    assert accuracy_at(costs, accuracies, 0.05) is None
    assert accuracy_at(costs, accuracies, 0.25) == 0.7
    assert accuracy_at(costs, accuracies, 1.0) == 0.6
    # [0.1, 0.2): 0.5, [0.2, 0.4): 0.7, [0.4, 0.5]: 0.6 -> (0.05 + 0.14 + 0.06) / 0.4
    assert curve_area(costs, accuracies, 0.5) == pytest.approx(0.25 / 0.4)
    assert curve_area(costs, accuracies, 0.3) == pytest.approx((0.05 + 0.07) / 0.2)
    # from 0.05, with 0.4 before round 0: (0.02 + 0.25) / 0.45; a start after round 0
    # changes nothing
    assert curve_area(costs, accuracies, 0.5, 0.05, 0.4) == pytest.approx(0.27 / 0.45)
    assert curve_area(costs, accuracies, 0.5, 0.1, 0.4) == pytest.approx(0.25 / 0.4)
    assert cost_to_reach(costs, accuracies, 0.6) == 0.2
    assert cost_to_reach(costs, accuracies, 0.8) is None
    assert spread([1.0, None, 3.0]) == {"mean": 2.0, "std": pytest.approx(2 ** 0.5),
                                        "n": 2, "of": 3, "values": [1.0, None, 3.0]}


def test_run_metrics_from_a_store(tmp_path):
    from test_report import write_run

    from elad.reading.bench_numbers import run_metrics

    write_run(tmp_path / "run")  # seed round: 1 target, 20 output tokens; round 1: 1, 15
    m = run_metrics(tmp_path / "run", "grid")
    assert m.costs == [pytest.approx(40 * 2.5e-6 + 20 * 1e-5),
                       pytest.approx(130 * 2.5e-6 + 35 * 1e-5)]
    assert m.accuracy_at_half_budget == 0.5 and m.final_accuracy == 0.5
    assert m.output_tokens_per_target == 35 / 2
    assert m.output_tokens_per_target_after_seed == 15
    e = m.evidence
    # the revision: 2 student steps + the answer line, first error at step 2
    assert e.first_error_step == 2 and e.first_error_relative == pytest.approx(2 / 3)
    assert e.first_error_at_step_1 == 0 and e.first_error_at_answer_line == 0
    assert e.confirmed_overall == 0 and e.steps_kept_per_revision == 1
    # greedy answer 7, the hidden answer 3 + 2 = 5: wrong, and the only candidate
    assert e.selected_wrong == 1 and e.candidates_wrong == 1
    assert e.auroc is None  # one class only
    assert e.selected_families == {"arithmetic": 1.0}
    assert m.saturation_round is None and m.stop_reason == "max rounds"
    # every figure summarized over seeds is a field, and in bench.json's run entry
    assert list(m.over_seeds()) == [
        "cost_usd", "final_accuracy", "area", "accuracy_at_half_budget",
        "output_tokens_per_target", "output_tokens_per_target_after_seed",
        "input_tokens_per_target_after_seed", "cost_per_target_after_seed",
        "saturation_round", "auroc", "selected_wrong", "candidates_wrong",
        "confirmed_overall", "first_error_step", "first_error_relative",
        "first_error_at_step_1", "first_error_at_answer_line", "steps_kept_per_revision",
        "target_steps_selected", "target_steps_seed_round"]
    assert m.to_dict().items() >= m.over_seeds().items()


def test_the_saturation_round_is_the_rule_replayed_at_the_benchs_theta(tmp_path):
    """A grid run goes on to its budget; its `sat.` is where the bench's own rule would
    have stopped it."""
    from test_report import write_run

    from elad.reading.bench_numbers import run_metrics

    write_run(tmp_path / "run")  # round 1: the teacher found an error
    store = RunStore(tmp_path / "run" / "run.sqlite")
    round_1 = store.rounds()[1]
    # round 2: it gave the student's own answer to 30 of its explanations
    store.add_examples("pool", [Example(f"q2-{i}", "arithmetic", "Start with 1. First, "
                                        "add 1. What is the result?") for i in range(30)])
    store.save_scoring(2, {}, {}, [Score(f"q2-{i}", 0.0, 0.0, 0.0, 0, None, ["2"])
                                   for i in range(30)])
    for i in range(30):
        store.save_teacher_call(f"r2-{i}", 2, f"q2-{i}", {},
                                TeacherReply("revise", None, [], "2", 1, 1), 0.0)
    store.save_round(dataclasses.replace(round_1, round=2, confirmed_fraction=1.0))
    store.close()

    def saturation_round(*overrides):
        bench = load_config(None, list(overrides))
        return run_metrics(tmp_path / "run", "grid", bench).saturation_round

    assert saturation_round("saturation=0.9", "saturation_window=30") == 2  # 30 of 30
    assert saturation_round("saturation=0.9", "saturation_window=31") is None  # 30 of 31
    assert saturation_round("saturation=0.5", "saturation_window=31") == 2
    assert saturation_round("saturation=1", "saturation_window=1") is None
    assert run_metrics(tmp_path / "run", "grid").saturation_round is None  # its own: 50


def test_paired_comparisons_against_the_baseline_by_hand():
    from elad.reading.bench_numbers import RunMetrics, comparisons

    def make(strategy, mode, seed, costs, accuracies, per_target):
        return RunMetrics(f"{strategy}-{mode}-{seed}", "grid", strategy, mode, seed, 1.0,
                          costs, accuracies, final_accuracy=accuracies[-1],
                          cost_usd=costs[-1], area=curve_area(costs, accuracies, 1.0),
                          cost_per_target_after_seed=per_target,
                          output_tokens_per_target_after_seed=per_target * 1000,
                          input_tokens_per_target_after_seed=per_target * 2000)

    grid = [make("random", "annotate", 0, [0.2, 0.6, 1.0], [0.5, 0.6, 0.7], 0.002),
            make("random", "annotate", 1, [0.2, 0.6, 1.0], [0.5, 0.6, 0.8], 0.002),
            make("elad", "annotate", 0, [0.2, 0.5, 0.9], [0.5, 0.7, 0.8], 0.002),
            make("elad", "annotate", 1, [0.2, 0.5, 0.9], [0.5, 0.7, 0.8], 0.002),
            make("elad", "auto", 0, [0.2, 0.4, 0.8], [0.5, 0.7, 0.9], 0.0015),
            make("elad", "auto", 1, [0.2, 0.4, 0.8], [0.5, 0.6, 0.7], 0.001)]
    c = comparisons(grid, ("random", "annotate"))
    auto = c["against_baseline"]["elad/auto"]
    # seed 0 reaches 0.7 at $0.4 of $1.0; seed 1 reaches 0.8 never
    assert auto["cost_to_baseline_final"]["values"] == [0.4, None]
    assert auto["cost_to_baseline_final"]["low"] is None  # no interval: one seed never
    annotate = c["against_baseline"]["elad/annotate"]["cost_to_baseline_final"]
    assert annotate["values"] == [0.5, 0.9] and annotate["mean"] == pytest.approx(0.7)
    # t interval with 1 degree of freedom: mean ± 12.706 * sd / sqrt(2)
    assert annotate["high"] == pytest.approx(0.7 + 12.7062 * 0.2828427 / 2 ** 0.5, rel=1e-4)
    assert auto["final_accuracy"]["values"] == [pytest.approx(0.2), pytest.approx(-0.1)]
    ratio = c["per_target"]["elad/auto"]["cost_per_target_after_seed"]
    assert ratio["values"] == [pytest.approx(0.75), pytest.approx(0.5)]
    assert "random/annotate" not in c["against_baseline"]


def test_a_baseline_that_learned_nothing_has_no_accuracy_to_reach():
    """Both configurations flat at 0.000 (a tiny grid that learned nothing): the other
    does not 'reach the baseline's final accuracy at 0.48 of its cost'."""
    from elad.reading.bench_numbers import RunMetrics, comparisons
    from elad.reading.bench_summary import format_comparisons

    grid = [RunMetrics(f"{s}-{m}-0", "grid", s, m, 0, 1.0, [0.2, 0.5, 1.0], [0.0] * 3,
                       final_accuracy=0.0, cost_usd=1.0, area=0.0)
            for s, m in (("random", "annotate"), ("targeted", "auto"))]
    c = comparisons(grid, ("random", "annotate"))
    assert c["against_baseline"]["targeted/auto"]["cost_to_baseline_final"]["of"] == 0
    text = format_comparisons({"comparisons": c, "whole_pool": None})
    assert ("  targeted/auto: nothing to reach (random/annotate ended no higher than its "
            "seed round); area +0.0") in text and "reaches" not in text
    # a second seed where the baseline rose: the first is said to be left out (it read
    # "at 0.50 ± 0.00 (1 of 1 seeds)", two seeds run)
    grid += [RunMetrics(f"{s}-{m}-1", "grid", s, m, 1, 1.0, [0.2, 0.5, 1.0], accuracies,
                        final_accuracy=accuracies[-1], cost_usd=1.0, area=0.5)
             for (s, m), accuracies in ((("random", "annotate"), [0.2, 0.4, 0.6]),
                                        (("targeted", "auto"), [0.2, 0.6, 0.7]))]
    text = format_comparisons({"comparisons": comparisons(grid, ("random", "annotate")),
                               "whole_pool": None})
    assert ("targeted/auto: reaches random/annotate's final accuracy at 0.50 ± 0.00 "
            "(1 of 1 seeds) of its cost (1 of 2 seeds left out: there random/annotate "
            "ended no higher than its seed round)") in text


def test_seeds_alike_and_a_seed_round_past_half_the_budget_are_said_so():
    """Two seeds with the same difference gave "+10.0 [+10.0, +10.0]", an interval that
    looks certain; a seed round that cost more than half the budget, a bare "-" at half
    the budget."""
    from elad.reading.bench_numbers import RunMetrics, comparisons
    from elad.reading.bench_summary import format_comparisons

    grid = [RunMetrics(f"{s}-{seed}", "grid", s, "annotate", seed, 1.0, [0.6, 1.0],
                       [0.5, final], final_accuracy=final, cost_usd=1.0, area=0.5)
            for seed, finals in ((0, (0.7, 0.8)), (1, (0.5, 0.6)))  # 0.1 twice, as floats
            for s, final in zip(("random", "elad"), finals)]  # 0.8-0.7 is not 0.6-0.5
    text = format_comparisons({"comparisons": comparisons(grid, ("random", "annotate")),
                               "whole_pool": None})
    assert ("at half the budget - (the seed round cost more than half of it); final +10.0 "
            "(the same in all 2 seeds: no interval)") in text


def test_a_seeds_areas_start_at_its_cheapest_round_0():
    """A run whose round 0 cost more (ranked, longer questions) is measured from the
    same money as the others, its untrained student's accuracy until its round 0."""
    from elad.reading.bench_numbers import RunMetrics, same_start_areas

    def make(strategy, seed, costs, accuracies, before):
        return RunMetrics(f"{strategy}-{seed}", "grid", strategy, "annotate", seed, 1.0,
                          costs, accuracies, accuracy_before=before)

    runs = [make("random", 0, [0.2, 0.6], [0.5, 0.7], 0.4),
            make("elad", 0, [0.3, 0.6], [0.6, 0.8], 0.4),
            make("elad", 1, [0.3, 0.6], [0.6, 0.8], None)]
    same_start_areas(runs)
    assert runs[0].area == pytest.approx((0.4 * 0.5 + 0.4 * 0.7) / 0.8)
    assert runs[1].area == pytest.approx((0.1 * 0.4 + 0.3 * 0.6 + 0.4 * 0.8) / 0.8)
    assert runs[2].area == curve_area([0.3, 0.6], [0.6, 0.8], 1.0)  # alone in its seed


def test_a_run_that_ranks_its_round_0_makes_its_own(tmp_path):
    """The warm student ranks round 0 (strategy elad): the grid gives it no shared seed
    round, and a fork is refused; a random strategy's round 0 is shared."""
    warm_config = load_config(None, [*TINY, "student.warmup=curriculum"])
    runs = grid(warm_config, (("random", "annotate"), ("elad", "auto")), (0,))
    assert runs[0].config.rank_seed_round is False  # the shared one is unranked
    base = load_config(None, [*TINY, "max_rounds=0"])
    run(base, tmp_path / "base")
    with pytest.raises(ConfigError, match="ranks its own round 0"):
        fork_seed_round(tmp_path / "base", tmp_path / "forked", runs[2].config)
    assert not (tmp_path / "forked").exists()
