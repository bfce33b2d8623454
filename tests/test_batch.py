"""The teacher through OpenAI's Batch API (teacher.batch=true), with the real `openai`
client, against the oracle server's files and batches endpoints."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from elad.budget import Budget, Prices, teacher_prices
from elad.cli import EXIT_BATCH_RUNNING, main
from elad.config import load_config
from elad.loop import run
from elad.reading.report_summary import spending
from elad.fakes.oracle_server import OracleServer, serve
from elad.store import TEST_ROUND, RunStore
from elad.teacher.batch import BatchPending
from elad.teacher.gateway import TeacherGateway
from elad.teacher.openai import OpenAITeacher
from elad.teacher.protocol import TeacherUnavailable

from conftest import TINY, annotation, openai_overrides

BATCH = ["teacher.batch=true", "teacher.batch_poll_s=0.05"]
STANDARD = Prices(2.5, 10.0)  # openai_overrides' prices
HALF = Prices(1.25, 5.0)  # the batch price


def batch_teacher(tmp_path, url, *extra) -> TeacherGateway:
    config = load_config(None, openai_overrides(url, *BATCH, *extra))
    assert teacher_prices(config.teacher) == HALF
    return TeacherGateway(OpenAITeacher(config.teacher, ""), RunStore(tmp_path / "run.sqlite"),
                         HALF, batch=True)


Q = "Start with {}. First, add 2. What is the result?"


def annotate_all(teacher: TeacherGateway, n: int, budget: Budget | None = None):
    questions = [Q.format(a) for a in range(n)]
    requests = [(annotation(teacher, q), str(i))
                for i, q in enumerate(questions)]
    return requests, teacher.call_all(requests, 0, budget or Budget(1.0))


def custom_ids(server: OracleServer) -> list[list[str]]:
    """Which requests each batch held, in the order the batches were made."""
    return [[line["custom_id"] for line in lines] for lines in server.batch_lines.values()]


def test_expired_batch_sends_again_only_what_it_left_unfinished(tmp_path):
    server = OracleServer(batch_limit=5)
    with serve(server) as (_, url):
        teacher = batch_teacher(tmp_path, url)
        requests, results = annotate_all(teacher, 12)
    sent = custom_ids(server)
    assert [len(b) for b in sent] == [12, 7, 2]
    assert sent[1] == sent[0][5:] and sent[2] == sent[1][5:]
    assert sent[0] == [r.key for r, _ in requests]
    assert all(r.reply.ok and not r.cached for r in results)
    assert [r.reply.answer for r in results] == [str(a + 2) for a in range(12)]
    assert Counter(a.outcome for a in server.ledger) == {"ok": 12}  # each one ran once
    spent = teacher.store.spent_usd()
    assert spent == pytest.approx(server.billed_usd(2.5, 10.0))
    tokens = teacher.store.call_totals()
    assert spent == pytest.approx(STANDARD.cost(tokens["input_tokens"],
                                                tokens["output_tokens"]) / 2)


@pytest.mark.parametrize("max_invalid", [1, 0])
def test_unusable_reply_is_asked_again_in_the_next_batch(tmp_path, max_invalid):
    server = OracleServer(bad_replies=1)
    with serve(server) as (_, url):
        teacher = batch_teacher(tmp_path, url, f"teacher.max_invalid={max_invalid}")
        _, results = annotate_all(teacher, 3)
    sent = custom_ids(server)
    assert len(sent) == 1 + max_invalid
    assert [a.outcome for a in server.ledger] == ["bad"] * 3 + ["ok"] * 3 * max_invalid
    assert [a.messages for a in server.ledger] == [1] * 3 + [3] * 3 * max_invalid
    assert all(r.reply.ok == bool(max_invalid) for r in results)
    if not max_invalid:
        assert results[0].reply.error.startswith("no usable reply in 1 tries: ")
    billed = [sum(x) for x in zip(*(a.billed_tokens for a in server.ledger[::3]))]
    assert [results[0].reply.input_tokens, results[0].reply.output_tokens] == billed
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def test_a_batch_collected_with_batch_turned_off_asks_its_unusable_replies_again(
        tmp_path):
    """A batch open when `teacher.batch` is turned off is collected; its unusable
    replies were then failed, never asked again, so a round of them alone could never go
    on (helper C, stop 59). Their re-asks now go in a batch, which carries what the
    first billed; what the batch left unbilled goes online."""
    server = OracleServer(bad_replies=1, batch_delay_s=600)
    with serve(server) as (_, url):
        waiting = batch_teacher(tmp_path, url, "teacher.batch_wait=false")
        with pytest.raises(BatchPending):
            annotate_all(waiting, 3)
        server.batch_delay_s = 0
        online = TeacherGateway(OpenAITeacher(load_config(None, openai_overrides(url))
                                              .teacher, ""), waiting.store, STANDARD)
        requests, results = annotate_all(online, 4)  # the fourth was never in a batch
    assert custom_ids(server) == [[r.key for r, _ in requests[:3]]] * 2
    assert [(a.outcome, a.batch, a.messages) for a in server.ledger] == \
        [("bad", True, 1)] * 3 + [("ok", True, 3)] * 3 \
        + [("bad", False, 1), ("ok", False, 3)]
    assert all(r.reply.ok for r in results)
    assert online.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


@pytest.mark.parametrize("max_retries", [1, 0])
def test_error_lines_are_sent_again_and_not_paid(tmp_path, max_retries):
    server = OracleServer(fail_first=1, faults=("500",))
    with serve(server) as (_, url):
        teacher = batch_teacher(tmp_path, url, f"teacher.max_retries={max_retries}")
        _, results = annotate_all(teacher, 4)
    assert len(custom_ids(server)) == 1 + max_retries
    assert all(r.reply.ok == bool(max_retries) for r in results)
    if not max_retries:
        assert results[0].reply.error == "no reply after 1 tries: HTTP 500: injected fault"
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def test_a_request_that_got_no_reply_is_asked_again_by_the_next_run(tmp_path):
    """As online, and as the run's error says: the same command asks again what got no
    reply. Before, a rerun replayed the earlier batch's outcomes, gave each request up
    again at once and sent nothing."""
    server = OracleServer(fail_first=1, faults=("500",))
    with serve(server) as (_, url):
        _, first = annotate_all(batch_teacher(tmp_path, url, "teacher.max_retries=0"), 4)
        rerun = batch_teacher(tmp_path, url, "teacher.max_retries=0")
        _, second = annotate_all(rerun, 4)
        _, third = annotate_all(batch_teacher(tmp_path, url, "teacher.max_retries=0"), 4)
    assert not any(r.reply.ok for r in first)
    assert all(r.reply.ok and not r.cached for r in second)
    assert all(r.cached for r in third)
    assert [len(b) for b in custom_ids(server)] == [4, 4]
    assert Counter(a.outcome for a in server.ledger) == {"500": 4, "ok": 4}
    assert rerun.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


@pytest.mark.parametrize("batch", [True, False])
def test_a_request_given_twice_is_sent_once(tmp_path, batch):
    with serve(OracleServer()) as (server, url):
        config = load_config(None, openai_overrides(url, *BATCH, f"teacher.batch={batch}"))
        teacher = TeacherGateway(OpenAITeacher(config.teacher, ""),
                                RunStore(tmp_path / "run.sqlite"), HALF, batch=batch)
        request = annotation(teacher, Q.format(1))
        results = teacher.call_all([(request, "a"), (request, "b")], 0, Budget(1.0))
    assert len(server.ledger) == 1 and teacher.new_calls == 1
    assert results[0].reply == results[1].reply and results[0].reply.ok
    assert [r.cached for r in results] == [False, True] and results[1].cost_usd == 0


def test_every_request_in_a_batch_holds_its_worst_case_before_it_is_sent(tmp_path):
    with serve(OracleServer()) as (server, url):
        teacher = batch_teacher(tmp_path, url)
        worst = teacher.worst_case_cost(annotation(teacher, Q.format(0)))
        budget = Budget(4.5 * worst)
        _, results = annotate_all(teacher, 10, budget)
    assert [len(b) for b in custom_ids(server)] == [4]  # the ones that fit, all at once
    assert [r.reply is not None for r in results] == [True] * 4 + [False] * 6
    assert budget.spent <= budget.limit and budget.reserved == pytest.approx(0)
    assert teacher.store.spent_usd() == pytest.approx(budget.spent)


def test_a_batch_made_but_not_recorded_is_found_and_collected_not_sent_again(
        tmp_path, monkeypatch):
    def killed(*args):  # the process dies right after the batch was created
        raise SystemExit("killed")

    with serve(OracleServer(batch_delay_s=0.3)) as (server, url):
        teacher = batch_teacher(tmp_path, url)
        monkeypatch.setattr(RunStore, "set_batch_id", killed)
        with pytest.raises(SystemExit):
            annotate_all(teacher, 5)
        monkeypatch.undo()
        assert len(server.batches) == 1 and server.polls["batch_1"] == 0
        rerun = TeacherGateway(teacher.teacher, RunStore(tmp_path / "run.sqlite"), HALF,
                              batch=True)
        _, results = annotate_all(rerun, 5)
    assert len(server.batches) == 1  # found by its input file, collected
    assert all(r.reply.ok for r in results) and rerun.new_calls == 5
    assert rerun.store.open_batch() is None


def test_a_server_without_the_batch_api_stops_the_run_with_one_line(tmp_path):
    with serve(OracleServer()) as (_, url):
        teacher = batch_teacher(tmp_path, url.replace("/v1", "/v2"))  # 404 everywhere
        with pytest.raises(TeacherUnavailable) as error:
            annotate_all(teacher, 2)
    assert str(error.value).startswith(
        f"the teacher at {url[:-3]}/v2 cannot upload the batch's requests (Batch API): "
        "Error code: 404")
    assert "\n" not in str(error.value) and teacher.store.call_totals()["calls"] == 0


def test_batch_run_costs_half_of_online_same_targets_and_survives_sigkill(tmp_path):
    server = OracleServer()
    with serve(server) as (_, url):
        online_items = TINY + openai_overrides(url, "max_rounds=1")
        online, _ = run(load_config(None, online_items), tmp_path / "online")

        server.ledger.clear()
        batch_items = [*online_items, *BATCH]
        killed = subprocess.Popen([sys.executable, "-m", "elad.cli", "-q", "run",
                                   *batch_items, "--run-dir", str(tmp_path / "batch")])
        deadline = time.monotonic() + 300

        def wait_for(condition):
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.02)

        wait_for(lambda: server.batches.get("batch_1", {}).get("status") == "completed")
        server.batch_delay_s = 600  # the next batch stays in progress until this is 0
        wait_for(lambda: server.polls["batch_2"] >= 2)  # recorded, polled, not collected
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert server.polls["batch_2"] >= 2 and len(server.batches) == 2
        server.batch_delay_s = 0
        resumed, teacher = run(load_config(None, batch_items), tmp_path / "batch")

    for a, b in zip(online, resumed, strict=True):  # the same run, at half the price
        assert b.cost_usd == pytest.approx(a.cost_usd / 2, abs=1e-8)
        assert dataclasses.replace(b, cost_usd=a.cost_usd) == a
    assert RunStore(tmp_path / "batch" / "run.sqlite").targets() == \
        RunStore(tmp_path / "online" / "run.sqlite").targets()
    sent = custom_ids(server)  # the seed round's batch, then round 1's, collected on rerun
    assert len(server.batches) == 2 and teacher.new_calls == len(sent[1]) == 8
    assert sum(map(len, sent)) == len({key for batch in sent for key in batch})
    assert Counter(a.outcome for a in server.ledger) == {"ok": resumed[-1].teacher_calls}
    spent = RunStore(tmp_path / "batch" / "run.sqlite").spent_usd()
    assert spent == pytest.approx(server.billed_usd(2.5, 10.0))


def test_the_test_sets_batch_is_named_the_test_set_not_round_minus_1(tmp_path):
    with serve(OracleServer(batch_delay_s=600)) as (_, url):
        teacher = batch_teacher(tmp_path, url, "teacher.batch_wait=false")
        requests = [(annotation(teacher, Q.format(1)), "t1")]
        with pytest.raises(BatchPending, match=r"^the test set: batch batch_1 in_progress, "
                                               "0 of 1 requests done; run the same"):
            teacher.call_all(requests, TEST_ROUND, Budget(1.0))


def test_without_batch_wait_the_run_exits_and_a_rerun_collects(tmp_path, capsys):
    with serve(OracleServer(batch_delay_s=600)) as (server, url):
        command = ["run", *TINY, "max_rounds=0",
                   *openai_overrides(url, *BATCH, "teacher.batch_wait=false"),
                   "--run-dir", str(tmp_path / "run")]
        assert main(command) == EXIT_BATCH_RUNNING
        err = capsys.readouterr().err
        assert "round 0: batch batch_1 in_progress, 0 of 16 requests done; run the same " \
               "command again to collect it" in err
        assert main(command) == EXIT_BATCH_RUNNING  # still running: nothing sent again
        capsys.readouterr()
        # the batch is billed whether or not the run goes on: what was spent says so
        with RunStore(tmp_path / "run" / "run.sqlite") as store:
            pending = spending(store, None)
        held = pending["a batch not collected yet"]
        assert held > 0 and pending["all"] == held and server.billed_usd(2.5, 10.0) == 0
        assert main(["report", str(tmp_path / "run")]) == 0
        assert f"spent ${held:.4f} (a batch not collected yet ${held:.4f})" in \
            capsys.readouterr().out
        page = (tmp_path / "run" / "report.html").read_text()
        assert f"${held:.4f} of the spent figure is a batch sent and not collected" in page
        assert "Not recorded (no round has finished yet)" in page
        server.batch_delay_s = 0
        assert main([*command, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["teacher_calls"] for r in records] == [16]
    assert list(server.batches) == ["batch_1"] and server.polls["batch_1"] == 3
    with RunStore(tmp_path / "run" / "run.sqlite") as store:  # collected: paid, exactly
        assert spending(store, None)["a batch not collected yet"] == 0
        assert store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))
    assert 0 < server.billed_usd(2.5, 10.0) <= held  # the worst case covered the bill


def test_a_batch_begun_before_an_upgrade_is_collected_not_paid_again(tmp_path, capsys,
                                                                    monkeypatch):
    """elad upgraded while a round's batch runs, with a new prompt: the rerun asks what
    that batch asked (its requests were stored with it), so it collects the batch's
    replies instead of sending the round's questions again."""
    from elad.teacher import request

    with serve(OracleServer(batch_delay_s=600)) as (server, url):
        command = ["run", *TINY, "max_rounds=0",
                   *openai_overrides(url, *BATCH, "teacher.batch_wait=false"),
                   "--run-dir", str(tmp_path / "run")]
        assert main(command) == EXIT_BATCH_RUNNING
        capsys.readouterr()
        old = request.template
        monkeypatch.setattr(request, "template",
                            lambda op: (old(op)[0] + ".1", "Upgraded. " + old(op)[1]))
        server.batch_delay_s = 0
        assert main([*command, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["teacher_calls"] for r in records] == [16]
    assert list(server.batches) == ["batch_1"]
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        prompts = [call.request["prompt"] for call in store.teacher_calls(0)]
    assert len(prompts) == 16 and not any("Upgraded." in p for p in prompts)


def test_a_reply_that_is_not_a_chat_completion_is_paid_and_sent_again(tmp_path):
    """As online: a broken body may have been billed (its worst case) and is retried in
    the next batch; an error status other than 429/5xx is refused at once."""
    from elad.teacher.batch import BatchSender, outcome
    from elad.teacher.openai import worst_input_tokens

    teacher = batch_teacher(tmp_path, "http://127.0.0.1:9", "teacher.max_retries=1")
    sender = BatchSender(teacher.teacher, teacher.store, HALF)
    request = annotation(teacher, Q.format(3))
    broken = outcome({"response": {"status_code": 200, "body": {"choices": "?"}}})
    state = sender.restore(request, "0")
    sender.advance(state, broken)
    assert state.reply is None and state.tries.failures == 1
    worst = (worst_input_tokens(state.messages), teacher.teacher.max_output_tokens)
    assert state.tries.billed == worst  # its usage is unknown: its worst case
    sender.advance(state, broken)
    assert state.tries.billed == (2 * worst[0], 2 * worst[1])
    assert state.reply.error == "no reply after 2 tries: the reply is not a chat completion"
    refused = outcome({"response": {"status_code": 413, "body": {"error": {
        "code": "too_large", "message": "no"}}}})
    state = sender.restore(request, "0")
    sender.advance(state, refused)
    assert state.reply.error == "the server refused the request: HTTP 413: too_large: no"
    assert state.tries.billed == (0, 0)


def test_a_question_the_oracle_cannot_answer_is_an_unpaid_refusal_in_a_batch(tmp_path):
    with serve() as (server, url):
        teacher = batch_teacher(tmp_path, url)
        requests = [(annotation(teacher, q), str(i)) for i, q in
                    enumerate([Q.format(1), "How many legs have two cats and a hen?"])]
        answered, refused = teacher.call_all(requests, 0, Budget(1.0))
    assert answered.reply.ok and not refused.reply.ok
    assert "answers only elad's synthetic questions" in refused.reply.error
    assert [a.outcome for a in server.ledger] == ["ok", "refused"]
    assert len(custom_ids(server)) == 1  # a refusal is not sent again
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))
