"""The HTML report of one run, from a store written by hand (no model, no torch)."""

import base64
import json
import re
import sys
from pathlib import Path

import pytest

from elad.bench_names import grid_baseline
from elad.budget import Prices
from elad.reading.html_page import esc, tag
from elad.reading.report import format_table, write_run_report
from elad.store import RunStore
from elad.types import Example, Explanation, RoundRecord, Score, Target, TeacherReply

EVIL = '<script>alert("pwned")</script>'
PRICES = Prices(2.5, 10.0)


def _call(store, round, qid, request, reply):
    store.save_teacher_call(f"{round}-{qid}", round, qid, request, reply,
                            PRICES.cost(reply.input_tokens, reply.output_tokens))


def write_run(run_dir, accuracies=(0.25, 0.5), strategy="elad", mode="revise",
              prices=PRICES, seed=0):
    """A two-round run whose question, student steps, answers and teacher text all
    carry markup (round 1 revises the student's explanation)."""
    run_dir.mkdir(parents=True)
    store = RunStore(run_dir / "run.sqlite")
    store.set_meta("config", json.dumps({
        "strategy": strategy, "mode": mode, "seed": seed, "budget_usd": 0.5,
        "teacher": {"kind": "oracle", "price_input_per_mtok": prices.input_per_mtok,
                    "price_output_per_mtok": prices.output_per_mtok},
        "student": {"kind": "tiny"}}))
    question = f"Start with 3. {EVIL} First, add 2. What is the result?"
    store.add_examples("pool", [Example("q0", "arithmetic", "Start with 1. First, add 1. "
                                        "What is the result?"),
                                Example("q1", "arithmetic", question)])
    # round 0: annotated
    store.save_selection(0, ["q0"])
    _call(store, 0, "q0", {"op": "annotate", "question": "Start with 1. First, add 1. "
                           "What is the result?"},
          TeacherReply("annotate", None, ["First, add 1: 1 + 1 = 2"], "2", 40, 20))
    store.add_target(Target("q0", "...", ["First, add 1: 1 + 1 = 2"], "2", 0, False))
    store.save_round(RoundRecord(0, 1, 1, 40, 20, prices.cost(40, 20), accuracies[0], None,
                                 strategy, mode, seed,
                                 test_accuracy_by_task={"arithmetic": accuracies[0]}))
    # round 1: the student's explanation is revised from its second step
    steps = ["First, add 2: 3 + 2 = 5", f"then {EVIL} & 'quotes'"]
    store.save_scoring(1, {"q1": [Explanation(steps, "7", -0.7)]}, {"q1": [[0.2, 0.5, 0.1]]},
                       [Score("q1", 0.0, 0.4, 0.2, 0, 2, ["7", "<b>5</b>"], 0.5, "7")])
    store.save_selection(1, ["q1"])
    _call(store, 1, "q1", {"op": "revise", "question": question, "steps": steps,
                           "answer": "7", "hint": 2},
          TeacherReply("revise", 2, [f"The answer follows {EVIL}"], "5", 90, 15))
    store.add_target(Target("q1", question, [steps[0], f"The answer follows {EVIL}"], "5",
                            1, False))
    store.save_round(RoundRecord(1, 2, 2, 130, 35, prices.cost(130, 35), accuracies[1], 0.0,
                                 strategy, mode, seed, "max rounds",
                                 test_accuracy_by_task={"arithmetic": accuracies[1]}))
    store.close()


def write_long_run(run_dir, stop_gain_per_usd=0.0):
    """write_run, then rounds 2-5 on a flattening curve (records only), so the report
    has a forecast; the rule set to `stop_gain_per_usd` in the stored config."""
    write_run(run_dir)
    store = RunStore(run_dir / "run.sqlite")
    config = json.loads(store.get_meta("config")) | {"stop_gain_per_usd": stop_gain_per_usd}
    store.set_meta("config", json.dumps(config))
    store.add_examples("test", [Example(f"t{i}", "arithmetic", "?", "1") for i in range(300)])
    for round, (cost, accuracy) in enumerate([(0.012, 0.6), (0.016, 0.66), (0.02, 0.685),
                                              (0.024, 0.695)], 2):
        store.save_round(RoundRecord(round, 2, 2, 130, 35, cost, accuracy, 0.0, "elad",
                                     "revise", 0, signals={"agreement": 0.5 + round / 10}))
    store.close()


def test_model_and_dataset_text_is_escaped(tmp_path):
    write_run(tmp_path / "run")
    page = write_run_report(tmp_path / "run").read_text()
    assert "<script" not in page.lower()  # the report itself has no scripts either
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 4  # question, student step, reply, target
    assert "&lt;b&gt;5&lt;/b&gt;" in page and "&amp; &#x27;quotes&#x27;" in page


def test_report_marks_the_first_wrong_step_and_embeds_its_plots(tmp_path):
    write_run(tmp_path / "run")
    page = write_run_report(tmp_path / "run").read_text()
    # step 1 is right; step 2 is the first wrong one and the least stable one
    assert ('<ol class="steps" start="1"><li>First, add 2: 3 + 2 = 5</li>'
            '<li class="wrong unstable">then &lt;script&gt;') in page
    assert '<li class="dropped">The answer is 7.</li>' in page  # replaced by the teacher
    assert 'ranked 1 of 1 candidates by elad' in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    # opens offline: nothing is loaded from elsewhere (the configuration shown may name
    # the teacher's base URL as text)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//""",
                         page)
    # totals in the cost breakdown: 2 calls, 130 input and 35 output tokens
    assert re.search(r"<td>all</td><td></td><td>2</td><td>0</td><td>130</td><td>35</td>",
                     page)


@pytest.mark.parametrize("strategy, why", [
    ("targeted", "pick 1 by targeted; ranked 1 of 1 candidates by elad (0.200)"),
    ("random", "drawn at random from 1 candidates")])
def test_report_says_why_a_question_was_picked_by_the_runs_strategy(tmp_path, strategy,
                                                                     why):
    """A mixed strategy's pick (the default, targeted) was labelled drawn at random."""
    write_run(tmp_path / "run", strategy=strategy, mode="auto")
    page = write_run_report(tmp_path / "run").read_text()
    assert f'<td class="text">{why}</td>' in page


def test_report_says_when_there_is_no_forecast_yet(tmp_path):
    write_run(tmp_path / "run")  # two rounds
    page = write_run_report(tmp_path / "run").read_text()
    assert "No forecast yet: it needs three rounds" in page


@pytest.mark.parametrize("threshold", [0.0, 20.0])
def test_report_plots_the_forecast_and_where_the_rule_stops(tmp_path, threshold):
    write_long_run(tmp_path / "run", stop_gain_per_usd=threshold)
    page = write_run_report(tmp_path / "run").read_text()
    assert "Forecast: what more teacher money buys" in page
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', page)
    assert len(images) == 3 and images[2].startswith("measured accuracy against cost, the "
                                                     "fitted forecast curve")
    if threshold:
        assert "The stop rule is set: stop_gain_per_usd=20 (accuracy per $)." in page
        assert "It stops after round" in page
    else:  # a tenth of the mean gain per $ after the seed round: (0.695 - 0.25) / $0.0235
        assert "it is shown with stop_gain_per_usd=1.9, a tenth of the run" in page
        assert "It would stop" in page
    # the per-round table: forecasts from round 2 on, the stored signals
    assert re.search(r"<td>2</td><td>0.0120</td><td>0.600</td><td>0\.\d{3} \[", page)
    assert "<td>0.70</td><td>-</td><td>-</td></tr>" in page  # round 2's agreement


def test_report_never_imports_torch(tmp_path):
    import subprocess

    write_run(tmp_path / "run")
    code = ("import sys; from elad.reading.report import write_run_report; "
            f"write_run_report(__import__('pathlib').Path({str(tmp_path / 'run')!r})); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tag_escapes_children_and_attributes():
    assert tag("p", "<i>", cls='"x"') == '<p class="&quot;x&quot;">&lt;i&gt;</p>'
    assert esc(tag("b", "1")) == "<b>1</b>"  # markup made here is not escaped twice


def html_rows(page: str, after: str) -> list[list[str]]:
    """The cells of the first table after the heading `after`."""
    section = page.split(f"<h2>{after}</h2>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", section)]


def test_cost_columns_use_the_price_table_and_sum_to_the_total(tmp_path):
    """With the config's -1 placeholders the prices are the table's (gpt-4o-mini here):
    each row's input and output dollars are its tokens times those prices, never
    negative, and add up to what the store recorded."""
    from elad.budget import teacher_prices
    from elad.config import config_from_json
    from elad.reading.run_numbers import cost_rows

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = RunStore(run_dir / "run.sqlite")
    config = config_from_json(json.dumps({"teacher": {"model": "gpt-4o-mini"}}))
    assert (config.teacher.price_input_per_mtok, config.teacher.price_output_per_mtok) == (
        -1, -1)
    prices = teacher_prices(config.teacher)
    assert prices == Prices(0.15, 0.60)
    store.set_meta("config", config.to_json())
    tokens = {("a", 0): (1000, 300), ("b", 0): (2500, 0), ("c", 1): (777, 1234)}
    for (qid, round), (tin, tout) in tokens.items():
        store.save_teacher_call(qid, round, qid, {"op": "annotate", "question": qid},
                                TeacherReply("annotate", None, ["x"], "1", tin, tout),
                                prices.cost(tin, tout))
    rows = cost_rows(store.teacher_calls(), teacher_prices(config.teacher))
    assert [(r["round"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        (0, 3500, 300), (1, 777, 1234)]
    for row in rows:
        assert row["input_usd"] >= 0 and row["output_usd"] >= 0
        assert row["input_usd"] == pytest.approx(row["input_tokens"] * 0.15 / 1e6)
        assert row["output_usd"] == pytest.approx(row["output_tokens"] * 0.60 / 1e6)
        assert row["input_usd"] + row["output_usd"] == pytest.approx(row["cost_usd"])
    store.close()
    page = write_run_report(run_dir).read_text()
    table_rows = html_rows(page, "Cost breakdown")
    assert table_rows[0][6:] == ["input $", "output $", "total $"]
    for cells in table_rows[1:]:
        tin, tout, usd_in, usd_out, total = (float(c) for c in cells[4:9])
        assert usd_in == pytest.approx(tin * 0.15 / 1e6, abs=5e-5)
        assert usd_out == pytest.approx(tout * 0.60 / 1e6, abs=5e-5)
        assert usd_in + usd_out == pytest.approx(total, abs=1.5e-4)  # three roundings
    assert table_rows[-1][0] == "all" and float(table_rows[-1][8]) == pytest.approx(
        sum(prices.cost(*t) for t in tokens.values()), abs=5e-5)


def test_report_shows_stop_budget_tasks_diagnostic_and_baseline(tmp_path, capsys):
    """A run in an `elad bench` layout finds its random-annotate sibling (the bench's
    baseline): both curves on one plot and the money at equal accuracy; with
    --baseline, any run."""
    runs = tmp_path / "grid" / "runs"
    write_run(runs / "elad-revise-s0")
    write_run(runs / "random-annotate-s0", accuracies=(0.5, 0.75), strategy="random",
              mode="annotate")
    assert grid_baseline(runs / "elad-revise-s0") == runs / "random-annotate-s0"
    assert grid_baseline(runs / "random-annotate-s0") is None  # not its own baseline
    assert grid_baseline(tmp_path / "grid") is None  # not a run of a grid
    from elad.cli import main

    assert main(["report", str(runs / "elad-revise-s0")]) == 0  # the default baseline
    page = (runs / "elad-revise-s0" / "report.html").read_text()
    assert ("Stopped after round 1: max rounds: max_rounds=4: 1 round after the seed "
            "round done. The teacher&#x27;s answer was the student&#x27;s own on 0% of round "
            "1&#x27;s questions (confirmed).") in page
    spent = PRICES.cost(130, 35)
    assert html_rows(page, "Stop and budget") == [
        ["budget $", "spent $", "left $", "spent"],
        ["0.5000", f"{spent:.4f}", f"{0.5 - spent:.4f}", f"{spent / 0.5:.1%}"]]
    assert html_rows(page, "Test accuracy per task") == [
        ["round", "cost $", "all", "arithmetic"],
        ["0", f"{PRICES.cost(40, 20):.4f}", "0.250", "0.250"],
        ["1", f"{spent:.4f}", "0.500", "0.500"]]
    # round 1's one candidate answered 7 greedily, its hidden answer is 5: one class only
    assert html_rows(page, "Selection diagnostic") == [
        ["round", "random", "entropy", "least-confidence", "intra", "elad"],
        ["1", "-", "-", "-", "-", "-"]]
    # the baseline reaches 0.5 in its round 0; this run only in round 1
    assert "Baseline: random-annotate-s0 (random, annotate)." in page
    verdict = (f"Verdict against the baseline random-annotate-s0 (random, annotate): this "
               f"run paid ${spent - PRICES.cost(40, 20):.4f} more at test accuracy 0.500 "
               f"(this run ${spent:.4f}, the baseline ${PRICES.cost(40, 20):.4f}); at the "
               f"end, this run 0.500 for ${spent:.4f}, the baseline 0.750 for "
               f"${spent:.4f}.")
    # the verdict opens the page, right under the title, and again beside the curves
    assert page.split("<body>\n", 1)[1].startswith(
        "<h1>elad run elad-revise-s0</h1><h2>What the run bought</h2>"
        f'<p class="verdict">{verdict}</p>')
    assert page.count(verdict) == 2
    # the terminal's report ends with it too
    assert capsys.readouterr().out.splitlines()[-1] == verdict.replace("&#x27;", "'")
    # a run is not its own baseline
    assert main(["report", str(runs / "elad-revise-s0"), "--baseline",
                 str(runs / "elad-revise-s0" / ".")]) == 2
    assert "is this run itself" in capsys.readouterr().err
    assert len(re.findall(r'<img alt="', page)) == 3
    # the baseline's own report has no baseline; --baseline names one
    assert "Against the baseline" not in write_run_report(
        runs / "random-annotate-s0").read_text()
    page = write_run_report(runs / "random-annotate-s0",
                            baseline_dir=runs / "elad-revise-s0").read_text()
    assert "Baseline: elad-revise-s0 (elad, revise)." in page
    saved = spent - PRICES.cost(40, 20)
    assert (f"this run saved ${saved:.4f} ({saved / spent:.0%} of the baseline&#x27;s cost) "
            "at test accuracy 0.500") in page


def test_a_baseline_that_paid_other_prices_is_priced_as_this_run(tmp_path, capsys):
    """A baseline priced at a quarter of this run's prices read "this run paid more" where
    the same baseline at this run's prices read "saved": dollars at two prices compare
    nothing. Its tokens are now priced as this run pays them, and the verdict says so;
    and that a baseline of another seed is not paired with the run."""
    from elad.cli import main

    mine, same, cheap = tmp_path / "mine", tmp_path / "same", tmp_path / "cheap"
    write_run(mine)
    write_run(same, accuracies=(0.5, 0.75), strategy="random", mode="annotate")
    write_run(cheap, accuracies=(0.5, 0.75), strategy="random", mode="annotate",
              prices=Prices(0.625, 2.5), seed=1)
    assert main(["report", str(mine), "--baseline", str(same)]) == 0
    at_equal_prices = capsys.readouterr().out.splitlines()[-1]
    assert main(["report", str(mine), "--baseline", str(cheap)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == at_equal_prices.replace(
        "baseline same (", "baseline cheap (") + (
        " The baseline paid other teacher prices (another model, the Batch API, prices "
        "changed): its dollars here are its tokens at this run's prices, $2.5 / $10 per "
        "million input / output tokens. The baseline's seed is 1, this run's 0: their seed "
        "rounds (and any sampled pool) differ, so part of the gap may be the seed's.")
    # its config says nothing of what it paid (the Batch API turned off since): the
    # records do
    with RunStore(cheap / "run.sqlite") as store:
        config = json.loads(store.get_meta("config"))
        config["teacher"] |= {"price_input_per_mtok": 2.5, "price_output_per_mtok": 10.0}
        store.set_meta("config", json.dumps(config))
    assert main(["report", str(mine), "--baseline", str(cheap)]) == 0
    assert "its dollars here are its tokens at this run's prices" in \
        capsys.readouterr().out.splitlines()[-1]


def test_money_saved_at_equal_accuracy():
    from elad.reading.run_numbers import equal_accuracy_savings

    def records(points):
        return [RoundRecord(i, 0, 0, 0, 0, cost, accuracy, None, "x", "revise", 0)
                for i, (cost, accuracy) in enumerate(points)]

    run = records([(0.1, 0.4), (0.2, 0.7), (0.3, 0.65)])
    baseline = records([(0.1, 0.4), (0.25, 0.5), (0.5, 0.6), (0.8, 0.72)])
    # the highest accuracy both reach: 0.7 (this run's best); first reached at $0.2 here,
    # at $0.8 by the baseline
    assert equal_accuracy_savings(run, baseline) == (0.7, 0.2, 0.8)
    assert equal_accuracy_savings(baseline, run) == (0.7, 0.8, 0.2)
    assert equal_accuracy_savings(run, []) is None


def test_no_verdict_while_neither_run_is_above_its_seed_round():
    """Both runs' best is their seed round: the costs to reach it are the seed rounds',
    which say nothing of selection (before: 'this run paid $0.1000 more at test accuracy
    0.400')."""
    from elad.reading.report_summary import verdict_line
    from elad.reading.run_numbers import Baseline

    def records(points):
        return [RoundRecord(i, 0, 0, 0, 0, cost, accuracy, None, "x", "revise", 0)
                for i, (cost, accuracy) in enumerate(points)]

    flat = records([(0.2, 0.4), (0.3, 0.35)])
    line = verdict_line(flat, Baseline("random-run", records([(0.1, 0.45), (0.2, 0.4)])))
    assert line == ("Verdict against the baseline random-run: none yet, neither run is "
                    "above its seed round's test accuracy (this run 0.400, the baseline "
                    "0.450).")
    # once one run is above its seed round, the costs compare
    line = verdict_line(flat, Baseline("random-run", records([(0.1, 0.3), (0.2, 0.4)])))
    assert "this run paid $0.0000 more at test accuracy 0.400" not in line
    assert "this run saved $0.0000 (0% of the baseline's cost) at test accuracy 0.400" \
        in line


def test_a_store_from_before_per_task_accuracy_still_reports(tmp_path):
    write_run(tmp_path / "run")
    store = RunStore(tmp_path / "run" / "run.sqlite")
    for record in store.rounds():  # rewritten as an older elad stored it
        old = {k: v for k, v in record.__dict__.items() if k != "test_accuracy_by_task"}
        store.db.execute("UPDATE rounds SET record = ? WHERE round = ?",
                         (json.dumps(old), record.round))
    assert [r.test_accuracy_by_task for r in store.rounds()] == [{}, {}]
    store.close()
    page = write_run_report(tmp_path / "run").read_text()
    assert "Not recorded (this run was made before elad recorded per-task accuracy)" in page


def test_report_says_how_much_spend_is_unconfirmed(tmp_path):
    """A request sent before a kill whose reply never came counts at its worst case;
    the report says so (issue 23's write-ahead ledger)."""
    write_run(tmp_path / "run")
    page = write_run_report(tmp_path / "run").read_text()
    assert "unconfirmed" not in page
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        store.send_ahead(None, "lost-request", 1, "q9", 0.0125)
    page = write_run_report(tmp_path / "run").read_text()
    assert "$0.0125 of the spent figure is unconfirmed" in page


def test_the_report_says_which_tokens_are_worst_cases(tmp_path, capsys):
    """Attempts whose usage the server never reported are charged their worst case; the
    token figures say so (before, they read as what the server billed)."""
    from elad.cli import main

    write_run(tmp_path / "run")
    assert main(["report", str(tmp_path / "run")]) == 0
    assert "worst case" not in capsys.readouterr().out
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        reply = TeacherReply("annotate", None, ["First, add 4: 3 + 4 = 7"], "7", 1300, 280,
                             worst_case_tokens=(1200, 256), worst_case_attempts=2)
        _call(store, 1, "q2", {"op": "annotate", "question": "?"}, reply)
    note = ("1,200 input and 256 output tokens are the worst case of 2 attempts whose "
            "usage the server never reported (timed out, an unreadable reply, a reply "
            "without usage), charged "
            "so as the budget must assume: the server may have billed less")
    page = write_run_report(tmp_path / "run").read_text()
    assert f"Of the tokens, {note}." in page
    assert main(["report", str(tmp_path / "run")]) == 0
    assert f"; {note}; forecast: " in capsys.readouterr().out.splitlines()[-1]


def test_the_page_opens_with_what_the_run_bought(tmp_path):
    """Accuracy, dollars, targets by the teacher's operation and why it stopped, before
    anything else; without a baseline, how to get the verdict."""
    write_run(tmp_path / "run")
    page = write_run_report(tmp_path / "run").read_text()
    top = page.split("<body>\n", 1)[1].split('<h2>Stop and budget</h2>', 1)[0]
    assert html_items(top) == [
        "Test accuracy 0.500 after round 1 (0.250 after the seed round).",
        f"Teacher cost ${PRICES.cost(130, 35):.4f} of the $0.5 budget (2 calls).",
        ("Training targets: 2: 1 revision of the student&#x27;s explanation (0 found "
         "without error) and 1 annotation written by the teacher."),
        ("Stopped after round 1: max rounds: max_rounds=4: 1 round after the seed round "
         "done.")]
    assert "No baseline to compare with: `elad report DIR --baseline OTHER_RUN_DIR`" in top
    with RunStore(tmp_path / "run" / "run.sqlite") as store:  # a warm student's start row
        seed_round = store.rounds()[0]
        seed_round.accuracy_before = 0.78  # the seed round lowered it: not left out
        store.save_round(seed_round)
    assert ("Test accuracy 0.500 after round 1 (0.250 after the seed round, 0.780 before "
            "any teacher money).") in write_run_report(tmp_path / "run").read_text()


def html_items(page: str) -> list[str]:
    return re.findall(r"<li>(.*?)</li>", page)


def test_the_page_and_the_docs_define_confirmed_the_same_way(tmp_path):
    from elad.reading.report_summary import CONFIRMED

    root = Path(__file__).resolve().parents[1]
    docs = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    defined = re.compile(r"`confirmed`(?: is)? " + re.escape(CONFIRMED))
    assert any(defined.search(" ".join(p.read_text().split())) for p in docs if p.exists())
    write_run(tmp_path / "run")
    page = " ".join(write_run_report(tmp_path / "run").read_text().split())
    assert f"&#x27;confirmed&#x27; is {esc(CONFIRMED)}." in page


def test_the_table_starts_with_the_untrained_students_accuracy():
    """A student tested before any teacher target gets a `start` row at no cost."""
    record = RoundRecord(0, 100, 100, 9000, 5000, 0.08, 0.7, None, "elad", "auto", 0,
                         accuracy_before=0.65)
    lines = format_table([record]).splitlines()
    assert lines[1].split() == ["start", "0", "0", "0", "0", "0.0000", "0.650", "-", "-"]
    assert lines[2].split()[:7] == ["0", "100", "100", "9000", "5000", "0.0800", "0.700"]
    assert len(lines[1]) == len(lines[2])  # the same columns
    record.accuracy_before = None  # a student from scratch: no start row
    assert len(format_table([record]).splitlines()) == 2


def test_the_questions_sent_are_those_asked_not_those_selected(tmp_path):
    """A selected question skipped at sending time (it no longer fit in the budget) was
    not sent: the page counted the round's selection as sent (66 against 63 calls). In a
    round a Ctrl-C stopped, the budget is not why (it said so at 4.8% spent)."""
    write_run(tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        store.save_selection(1, ["q1", "q0"])  # q0: selected again, never asked in round 1
    page = write_run_report(tmp_path / "run").read_text()
    assert ("Round 1: 1 question sent to the teacher (1 more selected, then skipped: no "
            "longer within the budget), the first 1 in selection order") in page
    assert "Round 0: 1 question sent to the teacher, the first 1 in selection order" in page
    with RunStore(tmp_path / "run" / "run.sqlite") as store:  # a round a Ctrl-C stopped
        store.save_selection(2, ["q0", "q1"])
        _call(store, 2, "q0", {"op": "annotate", "question": "Start with 1. First, add 1. "
                               "What is the result?"},
              TeacherReply("annotate", None, ["1 + 1 = 2"], "2", 40, 20))
    page = write_run_report(tmp_path / "run").read_text()
    assert ("Round 2: 1 question sent to the teacher (1 more selected, not sent yet: the "
            "run stopped in this round; a rerun sends those the budget allows)") in page


def test_a_budget_lowered_below_what_was_spent_is_named_so(tmp_path, capsys):
    """Lowering the budget of a run below its spending stops it; neither the page nor
    `elad report` reads it as spending more than the budget."""
    write_run(tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        store.set_meta("config", json.dumps(json.loads(store.get_meta("config"))
                                            | {"budget_usd": 0.0005}))
    spent = PRICES.cost(130, 35)
    page = write_run_report(tmp_path / "run").read_text()
    assert html_rows(page, "Stop and budget")[1][:3] == ["0.0005", f"{spent:.4f}", "0.0000"]
    assert (f"The budget was lowered to $0.0005 after ${spent:.4f} was spent (a way to "
            "stop a run): nothing was sent after that.") in page
    from elad.cli import main

    assert main(["report", str(tmp_path / "run")]) == 0
    assert (f"spent ${spent:.4f}, more than the $0.0005 the budget was lowered to after"
            in capsys.readouterr().out)


def test_cost_columns_add_up_to_what_was_billed_when_some_calls_went_by_batch():
    """A run that sent a round through the Batch API (half price) and one not: each
    row's input and output dollars add up to what its calls were billed, in the shares
    the list prices give its tokens (before: tokens at the current config's prices)."""
    from elad.reading.run_numbers import cost_rows
    from elad.types import TeacherCall

    prices = Prices(2.5, 10.0)
    calls = [TeacherCall(round, qid, "annotate", {}, TeacherReply(
        "annotate", None, ["x"], "1", 1000, 200), 1000, 200,
        prices.cost(1000, 200) * factor, True, "") for round, qid, factor in ((0, "a", 0.5), (1, "b", 1.0), (1, "c", 0.5))]
    rows = cost_rows(calls, prices)
    assert [row["cost_usd"] for row in rows] == pytest.approx([0.00225, 0.00675])
    for row in rows:
        assert row["input_usd"] + row["output_usd"] == pytest.approx(row["cost_usd"])
        assert row["input_usd"] / row["output_usd"] == pytest.approx(2.5 / 2.0)


def test_a_baseline_on_another_test_set_is_refused(tmp_path, capsys):
    """Accuracies on two test sets compare nothing: a --baseline whose test set is not
    the run's is a one-line error, not a verdict (before: 'paid $0.0030 more at test
    accuracy 0.000' against a run of another dataset)."""
    write_run(tmp_path / "run")
    write_run(tmp_path / "other")
    for name, questions in (("run", ["a", "b"]), ("other", ["a", "c"])):
        with RunStore(tmp_path / name / "run.sqlite") as store:
            store.add_examples("test", [Example(f"t-{q}", "arithmetic", q, "1")
                                        for q in questions])
    from elad.cli import main

    assert main(["report", str(tmp_path / "run"),
                 "--baseline", str(tmp_path / "other")]) == 2
    assert (f"--baseline {tmp_path / 'other'}: its test set is not this run's (1 of this "
            "run's 2 test questions in it), so their accuracies do not compare"
            in capsys.readouterr().err)
    assert not (tmp_path / "run" / "report.html").exists()
