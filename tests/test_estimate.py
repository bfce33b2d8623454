"""The offline estimate (estimate.py): requests, dollars and the limit that ends a run,
checked against hand-computed values; `elad run --dry-run` pays nothing and loads no
torch; `elad teacher check` names the limit that really ends the run; student profiles."""

import subprocess
import sys

import pytest

from elad.budget import count_tokens
from elad.config import ConfigError, RunConfig, config_from_dict, load_config
from elad.estimate import Costs, estimate, estimate_task, format_estimate
from elad.fakes.oracle_server import OracleServer, serve
from elad.rundir import RunDir, stored_config
from elad.store import RunStore
from elad.tasks.synthetic import TaskData
from elad.teacher.request import render
from elad.types import Example

from conftest import TINY, openai_overrides

# oracle teacher: worst-case input = count_tokens(prompt); $1 / $2 per million tokens
PRICED = ["teacher.price_input_per_mtok=1", "teacher.price_output_per_mtok=2",
          "teacher.max_output_tokens=100", "mode=annotate", "seed_size=4",
          "round_size=2", "candidates=2", "max_rounds=3", "task.pool_size=20"]
QUESTIONS = [f"What is {i} plus {3 * i + 1}?" for i in range(20)]


def per_question(question: str, reply: int, limit: int = 100) -> Costs:
    tokens = count_tokens(render("annotate", question))
    return Costs((tokens * 1 + reply * 2) / 1e6, (tokens * 1 + limit * 2) / 1e6)


def test_the_last_round_takes_what_no_round_after_it_would_spend():
    costs = [per_question(q, 50) for q in QUESTIONS]
    mean = sum(c.expected for c in costs) / len(costs)
    margin = sum(c.worst - c.expected for c in costs) / len(costs)  # one worst case kept
    # after 4 + 2 + 2 requests, 3.2 requests' money and the margin are left: a last
    # round of 2 would leave 1.2, less than a round, and nothing after it would spend it
    config = load_config(None, [*PRICED, f"budget_usd={11.2 * mean + margin}"])
    result = estimate(config, QUESTIONS)
    assert (result.seed, result.rounds) == (4, (2, 2, 3))
    # with a budget a round larger, the last round leaves that round unspent
    config = load_config(None, [*PRICED, f"budget_usd={13.2 * mean + margin}"])
    assert estimate(config, QUESTIONS).rounds == (2, 2, 2)


def test_max_rounds_ends_it_and_the_whole_pool_is_the_sum_of_its_questions():
    config = load_config(None, [*PRICED, "budget_usd=100"])
    result = estimate(config, QUESTIONS)  # replies assumed 100 // 2 = 50 tokens
    costs = [per_question(q, 50) for q in QUESTIONS]
    assert result.reply_tokens == 50
    assert (result.seed, result.rounds, result.limit) == (4, (2, 2, 2), "max_rounds")
    assert result.requests == 4 + 3 * 2
    assert result.whole_pool.expected == pytest.approx(sum(c.expected for c in costs))
    assert result.whole_pool.worst == pytest.approx(sum(c.worst for c in costs))
    mean = sum(c.expected for c in costs) / len(costs)
    assert result.run.expected == pytest.approx(10 * mean)
    text = format_estimate(result, config)
    assert "10 teacher requests (4 in round 0, then 2, 2, 2)" in text
    assert "what ends it: max_rounds, after 10 requests" in text
    assert "annotating the whole pool instead: 20 requests" in text


def test_a_student_that_ranks_round_0_gets_it_priced_as_revisions_in_mode_revise():
    """A warm (or pretrained) student explains round 0's questions to rank them, so
    mode=revise revises them: round 0 is priced as the later rounds are; a student from
    scratch's round 0 stays annotations."""
    priced = [*PRICED, "budget_usd=100", "mode=revise"]
    cold = estimate(load_config(None, [*priced, "student.warmup=none"]), QUESTIONS)
    warm_config = load_config(None, [*priced, "student.warmup=curriculum"])
    warm = estimate(warm_config, QUESTIONS)
    assert cold.seeding == cold.annotation != cold.later
    assert warm.seeding == warm.later == cold.later
    assert warm.run.expected == pytest.approx(warm.requests * warm.later.expected)
    assert "all its rounds are revisions" in format_estimate(warm, warm_config)


def test_the_estimate_names_only_the_stop_rules_that_are_on():
    def text(*overrides):
        config = load_config(None, [*PRICED, "budget_usd=100", *overrides])
        return format_estimate(estimate(config, QUESTIONS), config)

    assert "(saturation may end it sooner)" in text()  # the default: no forecast rule
    assert "(saturation or the forecast rule may end it sooner)" in \
        text("stop_gain_per_usd=0.05")
    assert "may end it sooner" not in text("saturation=1")


def test_the_pool_ends_it_when_it_runs_out_first():
    config = load_config(None, [*PRICED, "budget_usd=100", "task.pool_size=8"])
    result = estimate(config, QUESTIONS[:7])
    assert (result.seed, result.rounds, result.limit) == (4, (2, 1), "pool")
    assert "what ends it: the pool, after all 7 of its questions" in \
        format_estimate(result, config)


def test_the_budget_ends_it_as_the_stop_rule_would():
    same = ["What is 2 plus 3?"] * 20  # one price for every request: exact arithmetic
    one = per_question(same[0], 100)  # replies as long as the limit: expected = worst
    budget = 6.5 * one.expected  # the seed (4), one round of 2, then half a request left
    config = load_config(None, [*PRICED, f"budget_usd={budget!r}"])
    result = estimate(config, same, reply_tokens=100)
    assert (result.seed, result.rounds, result.limit) == (4, (2,), "budget")
    assert result.run.expected == pytest.approx(6 * one.expected)
    assert "what ends it: the budget, after 6 requests" in format_estimate(result, config)


def test_a_teacher_annotated_test_set_is_held_out_and_priced_apart():
    config = load_config(None, [*PRICED, "budget_usd=100", "task.test_from_teacher=5"])
    data = TaskData([Example(f"q{i}", "arithmetic", q, "") for i, q in
                     enumerate(QUESTIONS)], [])
    result = estimate_task(config, data, reply_tokens=50)  # (no synthetic question to ask)
    assert (result.test, result.pool) == (5, 15)  # held out of the pool, as the run does
    assert result.test_set.expected == pytest.approx(5 * result.annotation.expected)
    assert result.budget == pytest.approx(100 - 5 * result.annotation.expected)
    assert "teacher-annotated test set: 5 requests" in format_estimate(result, config)
    config.task.test_from_teacher = 20  # the run's own refusal, before paying anything
    with pytest.raises(ConfigError, match="not smaller than the pool"):
        estimate_task(config, data, reply_tokens=50)


def test_the_test_set_is_paid_first_out_of_the_budget():
    same = ["What is 2 plus 3?"] * 20
    one = per_question(same[0], 100)
    config = load_config(None, [*PRICED, f"budget_usd={8.5 * one.expected!r}"])
    alone = estimate(config, same, reply_tokens=100)
    assert (alone.seed, alone.rounds, alone.limit) == (4, (2, 2), "budget")
    with_test = estimate(config, same, reply_tokens=100, test=2)  # 2 of 8.5 paid first
    assert (with_test.seed, with_test.rounds, with_test.limit) == (4, (2,), "budget")
    assert "what ends it: the budget, after 6 requests" in \
        format_estimate(with_test, config)


def test_a_budget_that_covers_no_request_says_so_and_never_a_negative_sum():
    same = ["What is 2 plus 3?"] * 20
    one = per_question(same[0], 100)
    config = load_config(None, [*PRICED, f"budget_usd={0.5 * one.worst!r}"])
    result = estimate(config, same, reply_tokens=100)
    text = format_estimate(result, config)
    assert result.requests == 0 and "this run: no teacher request fits" in text
    assert f"one annotation at its worst case, ${one.worst:.4f}" in text
    # a test set that takes more than the budget: the run refuses before it (testset.py)
    result = estimate(config, same, reply_tokens=100, test=5)
    text = format_estimate(result, config)
    assert result.requests == 0 and "$-" not in text
    assert (f"this run: it cannot start: budget_usd=${config.budget_usd:.4f} does not "
            f"cover the teacher annotating the 5 test questions at their worst case, "
            f"about ${5 * one.worst:.4f}; raise budget_usd or give labeled test questions "
            "(task.test_path)") in text


def test_a_budget_that_cuts_the_rounds_ends_the_run_whichever_rule_stops_it():
    """max_rounds=1 would allow 15 requests; the budget allows 4 (2 in round 0): the
    budget ends it (before: 'max_rounds, after 4 requests')."""
    same = ["What is 2 plus 3?"] * 50
    one = per_question(same[0], 20)
    config = load_config(None, [*PRICED, "seed_size=10", "round_size=5", "candidates=5",
                                "max_rounds=1", f"budget_usd={2.5 * one.worst!r}"])
    result = estimate(config, same, reply_tokens=20)
    assert (result.seed, result.rounds, result.limit) == (2, (2,), "budget")
    assert f"what ends it: the budget, after {result.requests} requests; max_rounds=1 " \
        "allows 15 requests" in format_estimate(result, config)
    config = load_config(None, [*PRICED, "seed_size=10", "round_size=5", "candidates=5",
                                "max_rounds=1"])
    assert estimate(config, same, reply_tokens=20).limit == "max_rounds"  # rounds whole


def test_dry_run_prints_the_estimate_pays_nothing_and_loads_no_torch(tmp_path):
    with serve(OracleServer()) as (server, url):
        argv = ["run", "--dry-run", "--run-dir", str(tmp_path / "run"),
                *openai_overrides(url, "task.pool_size=200", "budget_usd=0.01")]
        code = (f"import sys; from elad.cli import main; code = main({argv!r}); "
                "print('torch loaded:', 'torch' in sys.modules); sys.exit(code)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert server.bills() == [] and server.ledger == []
    assert "torch loaded: False" in done.stdout
    assert "estimate (offline, no teacher call): teacher local-oracle" in done.stdout
    assert "what ends it: the budget" in done.stdout
    assert not (tmp_path / "run").exists()


def test_teacher_check_names_the_limit_that_ends_the_run(capsys):
    from elad.cli import main

    with serve(OracleServer()) as (_, url):
        code = main(["teacher", "check", *openai_overrides(url, "budget_usd=20")])
    out = capsys.readouterr().out
    assert code == 0
    assert "what ends it: max_rounds, after 300 requests; budget_usd=$20.00" in out
    assert "budget_usd stops it" not in out
    assert "annotating the whole pool instead: 3,000 requests" in out
    assert "teacher-annotated test set" not in out  # the synthetic task has labeled ones
    with serve(OracleServer()) as (_, url):
        code = main(["teacher", "check", *openai_overrides(url, "budget_usd=20",
                                                           "task.test_from_teacher=100")])
    out = capsys.readouterr().out
    assert code == 0
    assert "annotating the whole pool instead: 2,900 requests" in out  # 100 held out
    assert "teacher-annotated test set: 100 requests, about $" in out


def test_the_hf_profile_applies_where_the_config_is_silent_and_explicit_keys_win():
    tiny = load_config(None, [])
    assert (tiny.student.learning_rate, tiny.student.max_new_tokens) == (3e-3, 96)
    declared = RunConfig()
    declared.student.warmup = "curriculum"  # what validate makes of warmup=auto here
    assert tiny == declared  # no profile changes the offline default
    hf = load_config(None, ["student=hf", "student.model=x", "student.learning_rate=0.003"])
    assert hf.student.learning_rate == 0.003  # given: kept, though the tiny default
    assert (hf.student.max_new_tokens, hf.student.train_epochs,
            hf.student.seed_train_steps) == (256, 3.0, 20)
    from_dict = config_from_dict({"student": {"kind": "hf", "model": "x",
                                              "max_new_tokens": 80}})
    assert (from_dict.student.max_new_tokens, from_dict.student.learning_rate) == (80, 2e-4)


def test_a_stored_config_is_unchanged_on_resume(tmp_path):
    from elad.cli import config_from_items

    old = RunConfig()  # as a run made before profiles stored it: the tiny values
    old.student.kind, old.student.model = "hf", "x"
    old.student.warmup = "none"  # stored configs hold it resolved (and "none" before auto)
    with RunDir.create(tmp_path / "run", old):
        pass
    stored = stored_config(tmp_path / "run")
    assert stored == old
    resumed = config_from_items(["max_rounds=6"], stored)
    assert resumed.student == old.student and resumed.max_rounds == 6


def test_dry_run_on_a_run_that_has_run_says_what_it_spent(tmp_path, capsys):
    from elad.cli import main

    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY, "max_rounds=0", "--run-dir", run_dir]) == 0
    spent = RunStore(tmp_path / "run" / "run.sqlite").spent_usd()
    capsys.readouterr()
    assert main(["run", "--dry-run", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert f"{run_dir} has run already: it has spent ${spent:.4f} of its $" in out
    assert spent > 0 and "(the estimate above is of a whole run)" in out
    assert "would refuse" not in out
    assert main(["run", "--dry-run", "--run-dir", run_dir, "seed=5", "max_rounds=2"]) == 0
    assert (f"the run itself would refuse this config change: {run_dir} holds a run made "
            "with seed=0 (not 5): ") in capsys.readouterr().out  # said nothing before


def test_an_offline_teachers_replies_are_measured_not_assumed():
    """Before: the oracle's replies were assumed half its output limit (64 tokens) where
    they bill about 55, and the default run's estimate said 280 requests where the run
    makes 311. An LLM's replies are still assumed (asking it would be paid)."""
    import asyncio

    from elad.tasks import load_task
    from elad.teacher import make_teacher
    from elad.teacher.gateway import annotate_request

    config = load_config(None, ["task.pool_size=300"])
    data = load_task(config.task, 0)
    result = estimate_task(config, data)
    oracle = make_teacher(config.teacher)
    billed = [asyncio.run(oracle.complete(annotate_request(oracle, e, ()), None))
              .output_tokens for e in data.pool]
    true_mean = sum(billed) / len(billed)
    assert result.measured == 20 and abs(result.reply_tokens - true_mean) < 0.15 * true_mean
    assert result.reply_tokens != config.teacher.max_output_tokens // 2
    assert (f"replies {result.reply_tokens} tokens on average (the oracle teacher's to 20 "
            "pool questions, asked offline)") in format_estimate(result, config)
    llm = load_config(None, ["task.pool_size=300",
                             *openai_overrides("http://127.0.0.1:9/v1")])
    assumed = estimate_task(llm, data)
    assert assumed.measured == 0 and assumed.reply_tokens == 64
    assert "replies assumed 64 tokens" in format_estimate(assumed, llm)
