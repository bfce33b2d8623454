"""The OpenAI-compatible teacher, with the real `openai` client, against a local server
that answers as the oracle and fails on purpose (elad.fakes.oracle_server)."""

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from hashlib import sha256

import pytest

from elad.budget import Budget, Prices, count_tokens
from elad.cli import main
from elad.config import ConfigError, load_config
from elad.loop import run
from elad.fakes.oracle_answers import oracle_answer, write_questions
from elad.fakes.oracle_server import FAULTS, OracleServer, serve
from elad.reading.run_numbers import load_records
from elad.store import RunStore
from elad.tasks import load_task
from elad.teacher.gateway import TeacherGateway
from elad.teacher.openai import OpenAITeacher, api_key, retry_after_s
from elad.teacher.protocol import TeacherUnavailable
from elad.teacher.request import render

from conftest import TINY, annotation, openai_overrides

Q = "Start with 3. First, add 4. Second, subtract 6. What is the result?"
PRICES = Prices(2.5, 10.0)


def cached_teacher(tmp_path, url, *extra, concurrency=1):
    config = load_config(None, openai_overrides(url, *extra))
    store = RunStore(tmp_path / "run.sqlite")
    return TeacherGateway(OpenAITeacher(config.teacher, ""), store, PRICES, concurrency)


def annotate_once(teacher, question=Q, budget=None):
    request = annotation(teacher, question)
    [result] = teacher.call_all([(request, "q")], 0, budget or Budget(1.0))
    return request, result


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_retried_until_a_reply(tmp_path, fault, caplog):
    server = OracleServer(fail_first=2, faults=(fault,), slow_s=1.0)
    with serve(server) as (_, url), caplog.at_level(logging.WARNING, logger="elad"):
        teacher = cached_teacher(tmp_path, url)
        request, result = annotate_once(teacher)
    # a timeout is said once, with what to change for a one-request-at-a-time server
    said = [r.message for r in caplog.records if "timed out after" in r.message]
    assert len(said) == (fault == "slow")
    assert all("teacher.concurrency=1" in m for m in said)
    assert result.reply.ok and result.reply.answer == "1"
    assert [a.outcome for a in server.ledger] == [fault, fault, "ok"]
    worst_in = teacher.teacher.worst_case_input_tokens(request.prompt)
    billed_in, billed_out = server.ledger[-1].billed_tokens
    unreported = fault in ("slow", "truncated", "nonjson")  # may have been billed
    if unreported:  # worst case
        billed_in, billed_out = billed_in + 2 * worst_in, billed_out + 2 * 128
    assert (result.reply.input_tokens, result.reply.output_tokens) == (billed_in, billed_out)
    # which of those tokens are worst cases, not the server's figures
    assert (result.reply.worst_case_attempts, tuple(result.reply.worst_case_tokens)) == (
        (2, (2 * worst_in, 2 * 128)) if unreported else (0, (0, 0)))
    assert teacher.store.worst_case_totals() == (
        (2, 2 * worst_in, 2 * 128) if unreported else (0, 0, 0))
    assert teacher.store.spent_usd() == pytest.approx(PRICES.cost(billed_in, billed_out))
    if fault == "429":  # Retry-After: 1 was honoured before each retry
        times = [a.at for a in server.ledger]
        assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0


def test_a_reply_cut_off_at_the_token_limit_names_the_setting(tmp_path):
    """Replies longer than teacher.max_output_tokens are cut off (finish_reason length);
    given up on, the reason names the setting to raise (before: 'max_output_tokens')."""
    with serve(OracleServer()) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_output_tokens=5")
        _, result = annotate_once(teacher)
    assert not result.reply.ok and len(server.ledger) == 3  # asked, then asked again twice
    assert result.reply.error == (
        "no usable reply in 3 tries: the reply was cut off at the output token limit "
        "(teacher.max_output_tokens=5): a shorter reply, or a higher limit")


def test_an_api_key_variable_missing_or_empty_is_named(monkeypatch):
    config = load_config(None, ["teacher=openai", "teacher.api_key_env=ELAD_TEST_K"]).teacher
    monkeypatch.delenv("ELAD_TEST_K", raising=False)
    with pytest.raises(ConfigError, match="variable ELAD_TEST_K is not set"):
        api_key(config)
    monkeypatch.setenv("ELAD_TEST_K", "")
    with pytest.raises(ConfigError, match="variable ELAD_TEST_K is empty"):
        api_key(config)


def test_retry_after_forms():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({}) is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after_s({"retry-after": later}) <= 31


def test_when_retries_run_out_the_question_is_recorded_failed(tmp_path):
    with serve(OracleServer(fail_first=10, faults=("500",))) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_retries=2")
        _, result = annotate_once(teacher)
    assert not result.reply.ok
    assert result.reply.error.startswith("no reply after 3 tries: HTTP 500: ")
    assert "Error code" not in result.reply.error  # "HTTP 500: Error code: 500 - ..."
    assert len(server.ledger) == 3 and teacher.store.spent_usd() == 0
    assert teacher.store.attempted_ids() == {"q"}


@pytest.mark.parametrize("status, sent", [("408", 2), ("409", 2), ("413", 1), ("402", 1)])
def test_an_error_status_is_sent_again_only_if_transient(tmp_path, status, sent):
    """The online transport sends again exactly what the batch transport would
    (retry.is_transient): a timeout or a conflict, never a refusal such as 413."""
    with serve(OracleServer(fail_first=1, faults=(status,))) as (server, url):
        teacher = cached_teacher(tmp_path, url)
        _, result = annotate_once(teacher)
    assert len(server.ledger) == sent
    assert result.reply.ok == (sent == 2)
    if sent == 1:
        assert result.reply.error.startswith(f"the server refused the request: HTTP {status}")


def test_unreachable_teacher_stops_the_run_with_a_clear_error(tmp_path):
    with serve() as (_, url):  # a port that was free a moment ago, closed now
        pass
    teacher = cached_teacher(tmp_path, url, "teacher.max_retries=1")
    with pytest.raises(TeacherUnavailable, match="cannot reach the teacher at http://127"
                       r".*\(2 tries, none connected, so none was paid\); check "
                       "teacher.base_url and that the server is up, then rerun$"):
        annotate_once(teacher)
    assert teacher.store.call_totals()["calls"] == 0


def test_requests_that_never_reached_the_teacher_are_not_counted_as_maybe_paid(tmp_path):
    """When one request finds the teacher unreachable, the others in flight are stopped
    before their next try; none reached a server, so none may have been billed: the
    ledger holds nothing unconfirmed, and a rerun may fix the teacher's address."""
    with serve() as (_, url):  # a port that was free a moment ago, closed now
        pass
    teacher = cached_teacher(tmp_path, url, "teacher.max_retries=3", concurrency=8)
    requests = [(annotation(teacher, f"Start with {n}. First, add 4. What is the result?"),
                 f"q{n}") for n in range(8)]
    with pytest.raises(TeacherUnavailable, match="cannot reach the teacher"):
        teacher.call_all(requests, 0, Budget(1.0))
    assert teacher.store.unconfirmed_usd() == 0 and teacher.store.spent_usd() == 0


def test_unusable_reply_is_asked_again_with_the_reason(tmp_path):
    with serve(OracleServer(bad_replies=1)) as (server, url):
        teacher = cached_teacher(tmp_path, url)
        _, result = annotate_once(teacher)
    assert result.reply.ok and [a.outcome for a in server.ledger] == ["bad", "ok"]
    assert server.ledger[1].messages == 3  # prompt, the bad reply, the reason
    billed = [sum(x) for x in zip(*(a.billed_tokens for a in server.ledger))]
    assert [result.reply.input_tokens, result.reply.output_tokens] == billed


def test_reply_that_stays_unusable_is_recorded_failed_and_paid(tmp_path):
    with serve(OracleServer(bad_replies=9)) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_invalid=2")
        _, result = annotate_once(teacher)
        _, again = annotate_once(teacher)  # a rerun: what was paid is not asked again
    assert not result.reply.ok and "no usable reply in 3 tries" in result.reply.error
    assert again.cached and not again.reply.ok
    assert len(server.ledger) == 3
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def test_a_request_the_run_stops_before_its_re_ask_keeps_its_paid_reply(tmp_path):
    """Ctrl-C (or another request's error) between an unusable reply and its re-ask:
    the request is recorded failed with that reply's tokens, and a rerun does not ask
    it again. Before, it was recorded nowhere, and the rerun bought the reply again
    from the first try (a helper's billing log: [1, 3, 1, 3, 3] messages)."""
    import asyncio

    from elad.budget import Allowance, worst_case

    with serve(OracleServer(bad_replies=9)) as (server, url):
        teacher = cached_teacher(tmp_path, url)
        request = annotation(teacher, Q)

        async def stopped_after_the_first_reply():
            allowance = Allowance(Budget(1.0), PRICES, asyncio.Condition(), asyncio.Event())
            use = allowance.use
            allowance.use = lambda *tokens: (use(*tokens), allowance.stopping.set())
            await allowance.ensure(*worst_case(teacher.teacher, request.prompt))
            return await teacher.teacher.complete(request, allowance)

        reply = asyncio.run(stopped_after_the_first_reply())
        assert [a.outcome for a in server.ledger] == ["bad"]  # no re-ask was sent
        assert not reply.ok and reply.error.startswith(
            "the run stopped before asking again after 1 unusable reply (")
        assert (reply.input_tokens, reply.output_tokens) == server.ledger[0].billed_tokens
        cost = PRICES.cost(reply.input_tokens, reply.output_tokens)
        teacher.store.save_teacher_call(request.key, 0, "q", request.as_dict(), reply, cost)
        _, again = annotate_once(teacher)  # the rerun
    assert again.cached and len(server.ledger) == 1
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def test_a_re_ask_stopped_in_flight_keeps_the_paid_reply_and_counts_its_worst_case(
        tmp_path):
    """A second Ctrl-C (or SIGTERM) ends the wait for the requests in flight: a re-ask
    cancelled in flight lost the unusable reply before it, paid for, and the rerun
    bought it again (helper C, stop 59: 8 questions). Now it is kept, as when the run
    stops before the re-ask, with the cancelled attempt at its worst case."""
    import asyncio

    from elad.budget import Allowance, worst_case
    from elad.teacher.protocol import StoppedInFlight

    server = OracleServer(bad_replies=9, latency_s=0.3)
    with serve(server) as (_, url):
        teacher = cached_teacher(tmp_path, url)
        request = annotation(teacher, Q)

        async def cancelled_in_the_re_ask():
            allowance = Allowance(Budget(1.0), PRICES, asyncio.Condition(), asyncio.Event())
            await allowance.ensure(*worst_case(teacher.teacher, request.prompt))

            async def ask():  # as the gateway does: the reply rides on the cancellation
                try:
                    return await teacher.teacher.complete(request, allowance)
                except StoppedInFlight as stopped:
                    return stopped.reply

            asking = asyncio.create_task(ask())
            while not server.ledger:  # the first, unusable reply
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # its re-ask is in flight
            asking.cancel()
            return await asking

        reply = asyncio.run(cancelled_in_the_re_ask())
    assert not reply.ok and reply.error.startswith(
        "the run stopped before asking again after 1 unusable reply (")
    first = server.ledger[0].billed_tokens
    assert reply.input_tokens > first[0] and reply.output_tokens == first[1] + \
        teacher.teacher.config.max_output_tokens  # the re-ask's worst case
    assert reply.worst_case_attempts == 1


def test_teacher_check_cancelled_in_a_re_ask_still_stops(tmp_path):
    """`elad teacher check` awaits the request in the task a Ctrl-C cancels: the kept
    reply must not swallow the interrupt (the reviewer of stop 59: it printed an
    estimate and exited 1, not 130)."""
    import asyncio

    from elad.teacher.check import _annotate

    server = OracleServer(bad_replies=9, latency_s=0.3)
    with serve(server) as (_, url):
        teacher = cached_teacher(tmp_path, url)
        request = annotation(teacher, Q)

        async def cancelled_in_the_re_ask():
            checking = asyncio.create_task(_annotate(teacher.teacher, request, PRICES))
            while not server.ledger:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            checking.cancel()
            await checking

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(cancelled_in_the_re_ask())


def test_a_teacher_whose_first_replies_are_all_unusable_stops_the_sending(tmp_path):
    """Five requests in a row given up as unusable (a label the teacher never uses, a
    model too weak to follow the prompt): the sending stops, naming the reason. Before,
    every request of the round was paid for its tries (a helper's seed round: 48 paid
    attempts, all refused). Unusable first replies that a re-ask mends do not stop it."""
    questions = [f"Start with {a}. First, add 2. What is the result?" for a in range(12)]
    with serve(OracleServer(bad_replies=9)) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_invalid=1")
        requests = [(annotation(teacher, q), str(i)) for i, q in enumerate(questions)]
        with pytest.raises(TeacherUnavailable, match=r"round 0: the teacher's first 5 "
                           r"replies could not be used \(the last: no usable reply in 2 "
                           r"tries: .*\); stopped before paying for more of the same\. "
                           r"Those are paid and kept; a higher teacher.max_invalid asks "
                           r"the requests not sent yet more times, in this run; "
                           r"teacher.model, .* change only in another --run-dir"):
            teacher.call_all(requests, 0, Budget(1.0))
        assert len(server.ledger) == 10 and len(teacher.store.teacher_failures()) == 5
        assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))
    (tmp_path / "ok").mkdir()
    with serve(OracleServer(bad_replies=1)) as (server, url):  # a re-ask makes it usable
        teacher = cached_teacher(tmp_path / "ok", url, "teacher.max_invalid=1")
        requests = [(annotation(teacher, q), str(i)) for i, q in enumerate(questions)]
        results = teacher.call_all(requests, 0, Budget(1.0))
    assert all(r.reply.ok for r in results) and len(server.ledger) == 24


def test_a_server_that_refuses_every_request_stops_the_sending_after_five(tmp_path,
                                                                           caplog):
    """Every request refused (HTTP 400: a model that takes no such request; here, the
    oracle server and questions it cannot solve): the sending stops after the first five,
    saying a rerun asks them again, and each is logged once by whoever asked, not by the
    transport too. Before, every request of the round was sent and refused, and each
    logged twice."""
    questions = [f"Who wrote book number {i}?" for i in range(30)]
    with serve() as (server, url):
        teacher = cached_teacher(tmp_path, url)
        requests = [(annotation(teacher, q), str(i)) for i, q in enumerate(questions)]
        with caplog.at_level(logging.WARNING, logger="elad"), \
                pytest.raises(TeacherUnavailable, match=r"round 0: the server refused the "
                              r"first 5 requests \(the last: Error code: 400 - the oracle "
                              r"teacher answers only .*\); stopped before sending more of "
                              r"the same\. A refused request is billed nothing and asked "
                              r"again by a rerun: fix the server, or what it names, then "
                              r"rerun \(this run has had no reply, so any setting may "
                              r"change"):
            teacher.call_all(requests, 0, Budget(1.0))
    assert 5 <= len(server.ledger) < 15 and server.bills() == []
    assert teacher.store.spent_usd() == 0
    assert not any("refused" in r.getMessage() for r in caplog.records
                   if r.levelno >= logging.WARNING)


def test_a_teacher_that_never_replies_stops_the_sending_after_five(tmp_path):
    """A server answering 500 (or 503) to everything, before the run's first reply: every
    request of the round waited through its retries, a warning each, before the run
    stopped. Once the run has had replies, an outage stops only a round none of whose
    requests got one (above), not an overnight run at its first five."""
    questions = [f"Start with {i}. First, add 1. What is the result?" for i in range(30)]
    with serve(OracleServer(fault_rate=1.0, faults=("500",))) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_retries=0")
        requests = [(annotation(teacher, q), str(i)) for i, q in enumerate(questions)]
        with pytest.raises(TeacherUnavailable, match=r"round 0: the teacher gave no reply "
                           r"to the first 5 requests after their retries \(the last: no "
                           r"reply after 1 tries: HTTP 500: .*\); stopped before sending "
                           r"more\. .* a server that is up, or a longer teacher.timeout_s"):
            teacher.call_all(requests, 0, Budget(1.0))
    assert 5 <= len(server.ledger) < 15 and teacher.store.spent_usd() == 0


def test_a_round_none_of_whose_requests_got_a_reply_stops_and_is_asked_again(tmp_path,
                                                                              capsys,
                                                                              caplog):
    """A round whose every request got no reply (a teacher.timeout_s lowered below a slow
    server's latency) was trained on the same targets and recorded, a point of the curve
    that bought nothing, at its requests' worst case. It stops the run now, and the rerun
    asks them again. The teacher phase's last line says none got a reply (it said
    "done", just before the error)."""
    run_dir = str(tmp_path / "run")
    with serve(OracleServer()) as (server, url):
        assert main(["-q", "run", *TINY, *openai_overrides(url), "max_rounds=0",
                     "--run-dir", run_dir]) == 0
        server.fault_rate, server.faults = 1.0, ("500",)
        caplog.set_level(logging.INFO, logger="elad")
        assert main(["-q", "run", "max_rounds=1", "teacher.max_retries=0",
                     "--run-dir", run_dir]) == 2
        assert ("elad: error: round 1: no reply to any of its 8 requests (the first: no "
                "reply after 1 tries: HTTP 500") in capsys.readouterr().err
        assert "round 1: teacher: 0 of 8 requests got a usable reply in" in caplog.text
        assert [r.round for r in load_records(run_dir)] == [0]
        server.fault_rate = 0.0
        assert main(["-q", "run", "--run-dir", run_dir]) == 0
    assert [r.round for r in load_records(run_dir)] == [0, 1]
    assert load_records(run_dir)[1].teacher_calls == 16 + 8


def test_a_paid_run_whose_later_round_is_refused_whole_still_finishes(tmp_path, capsys):
    """A refusal that is the request's own (a content filter, a prompt too long) comes
    back on every rerun of a resumed round: once the run has had replies, refusals
    neither stop the sending nor the round, or the run could never go on."""
    run_dir = str(tmp_path / "run")
    with serve(OracleServer()) as (server, url):
        assert main(["-q", "run", *TINY, *openai_overrides(url), "max_rounds=0",
                     "--run-dir", run_dir]) == 0
        server.fault_rate, server.faults = 1.0, ("400",)  # every request, every time
        assert main(["-q", "run", "max_rounds=1", "--run-dir", run_dir]) == 0
    records = load_records(run_dir)
    assert [r.round for r in records] == [0, 1] and records[1].stop_reason == "max rounds"
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        failed = [c.reply.error for c in store.teacher_calls(1) if not c.reply.ok]
    assert len(failed) == 8 and all(e.startswith("the server refused") for e in failed)


def test_a_failure_that_billed_nothing_is_asked_again_by_a_rerun(tmp_path):
    """A refusal (HTTP 413, not sent again in the same run) cost nothing: the next run
    asks again, and its reply replaces the failure, so the run can go on."""
    with serve(OracleServer(fail_first=1, faults=("413",))) as (server, url):
        teacher = cached_teacher(tmp_path, url)
        _, refused = annotate_once(teacher)
        _, again = annotate_once(teacher)
    assert not refused.reply.ok and again.reply.ok and not again.cached
    assert [a.outcome for a in server.ledger] == ["413", "ok"]
    assert teacher.store.call_totals()["calls"] == 1 and not teacher.store.teacher_failures()
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def test_a_request_that_got_no_reply_is_asked_again_and_its_cost_kept(tmp_path):
    """Every attempt cut off (a connection lost mid-reply, as when a server dies): the
    attempts may have been billed, so each counts at its worst case. Before, the failure
    was never asked again, and a seed round that met an outage could never resume; now
    the next run asks again, and the ledger keeps what the failure may have cost."""
    with serve(OracleServer(fail_first=2, faults=("truncated",))) as (server, url):
        teacher = cached_teacher(tmp_path, url, "teacher.max_retries=1")
        _, lost = annotate_once(teacher)
        lost_usd = teacher.store.spent_usd()
        budget = Budget(1.0)
        _, again = annotate_once(teacher, budget=budget)
    assert not lost.reply.ok and lost.reply.error.startswith("no reply after 2 tries")
    assert lost_usd > 0  # billed at worst case: the server may have charged them
    assert again.reply.ok and not again.cached
    assert [a.outcome for a in server.ledger] == ["truncated", "truncated", "ok"]
    assert teacher.store.spent_usd() == pytest.approx(lost_usd + again.cost_usd)
    assert budget.spent == pytest.approx(teacher.store.spent_usd())  # the rerun counts both
    assert teacher.store.spent_usd() >= server.billed_usd(2.5, 10.0) - 1e-12
    assert teacher.store.call_totals()["calls"] == 1 and not teacher.store.teacher_failures()


@pytest.mark.parametrize("usage", [{"prompt_tokens": -5, "completion_tokens": "abc"},
                                   {"prompt_tokens": 1.5, "completion_tokens": None}])
def test_usage_that_is_not_token_counts_is_billed_at_worst_case(tmp_path, usage):
    with serve(OracleServer(usage_reported=usage)) as (_, url):
        teacher = cached_teacher(tmp_path, url)
        request, result = annotate_once(teacher)
    assert result.reply.ok and result.reply.answer == "1"
    worst = (teacher.teacher.worst_case_input_tokens(request.prompt), 128)
    assert (result.reply.input_tokens, result.reply.output_tokens) == worst
    assert teacher.store.worst_case_totals() == (1, *worst)
    assert teacher.store.spent_usd() == pytest.approx(PRICES.cost(*worst))


def test_more_output_than_the_limit_is_recorded_as_reported_with_a_warning(tmp_path,
                                                                           caplog):
    usage = {"prompt_tokens": 5, "completion_tokens": 10**6}
    with serve(OracleServer(usage_reported=usage)) as (_, url):
        _, result = annotate_once(cached_teacher(tmp_path, url))
    assert (result.reply.input_tokens, result.reply.output_tokens) == (5, 10**6)
    assert "reports 1000000 output tokens for a request limited to 128" in caplog.text


def test_budget_holds_with_many_requests_in_flight(tmp_path):
    questions = [f"Start with {a}. First, add 2. What is the result?" for a in range(40)]
    with serve(OracleServer(latency_s=0.05)) as (server, url):
        teacher = cached_teacher(tmp_path, url, concurrency=16)
        requests = [(annotation(teacher, q), str(i))
                    for i, q in enumerate(questions)]
        worst = teacher.worst_case_cost(requests[0][0])
        budget = Budget(4.5 * worst)
        results = teacher.call_all(requests, 0, budget)
    made = [r for r in results if r.reply is not None]
    assert budget.spent <= budget.limit and budget.reserved == pytest.approx(0)
    assert teacher.store.spent_usd() == pytest.approx(budget.spent)
    assert 4 < len(made) == len(server.ledger) < len(questions)  # real costs < worst case
    assert budget.limit - budget.spent < worst  # skipped only what could not fit


class KeyRefusedAfterTheFirstReply(OracleServer):
    """Answers the first request at once and the others after `slow_s`, and refuses the
    key from the first reply on: requests already past the key check are still answered
    and billed (as a revoked key or an outage finds requests in flight)."""

    def fault_for(self, body: bytes) -> str | None:
        with self._lock:
            first = not self._seen
            self._seen[body] += 1
        return None if first else "slow"

    def record(self, attempt) -> None:
        super().record(attempt)
        self.api_key = "revoked"


def test_a_teacher_error_waits_for_the_requests_in_flight_and_keeps_them(tmp_path, caplog):
    """One request's error (here a 401) stops the run; the requests already sent are
    paid for, so their replies are waited for and kept (before, they were dropped and a
    rerun paid for them again)."""
    questions = [f"Start with {a}. First, add 2. What is the result?" for a in range(8)]
    server = KeyRefusedAfterTheFirstReply(latency_s=0.1, slow_s=1.5)
    with serve(server) as (_, url):
        teacher = cached_teacher(tmp_path, url, "teacher.timeout_s=10", concurrency=4)
        requests = [(annotation(teacher, q), str(i))
                    for i, q in enumerate(questions)]
        with pytest.raises(TeacherUnavailable, match="Incorrect API key"):
            teacher.call_all(requests, 0, Budget(1.0))
        billed = {prompt for prompt, _ in server.bills()}
    assert len(billed) == 4  # the first and the three in flight when the 401 came
    assert _stored_prompts(tmp_path / "run.sqlite") == billed
    assert "the teacher stopped the run: waiting up to 60s for the " in caplog.text
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))


def _ok_deliveries(server: OracleServer) -> Counter:
    return Counter(a.prompt_hash for a in server.ledger if a.outcome == "ok")


def test_run_under_faults_completes_within_budget_paying_once(tmp_path):
    server = OracleServer(fault_rate=0.2, slow_s=1.0)
    with serve(server) as (_, url):
        config = load_config(None, TINY + openai_overrides(url, "budget_usd=0.03",
                                                          "teacher.concurrency=4"))
        records, _ = run(config, tmp_path / "run")
        attempts = len(server.ledger)
        again, teacher = run(config, tmp_path / "run")  # a finished run asks nothing
    assert again == records and teacher.new_calls == 0 and len(server.ledger) == attempts
    assert records[-1].stop_reason in ("budget spent", "max rounds")
    outcomes = Counter(a.outcome for a in server.ledger)
    assert sum(outcomes[f] for f in FAULTS) >= 0.1 * attempts  # faults did happen
    assert max(_ok_deliveries(server).values()) == 1  # no reply was paid for twice
    store = RunStore(tmp_path / "run" / "run.sqlite")
    spent = store.spent_usd()
    assert server.billed_usd(2.5, 10.0) <= spent + 1e-12 <= config.budget_usd + 1e-12
    rows = store.db.execute("SELECT example_id, ok, error FROM teacher_calls").fetchall()
    targets = {t.example_id for t in store.targets()}
    for example_id, ok, error in rows:  # every reply used, or failed with its reason
        assert (ok and example_id in targets) or (not ok and error)


def test_api_key_never_reaches_the_run_directory(tmp_path, monkeypatch, capsys, caplog):
    key = "sk-elad-test-" + os.urandom(8).hex()
    monkeypatch.setenv("ELAD_TEST_KEY", key)
    with serve(OracleServer(api_key=key)) as (_, url):
        overrides = TINY + openai_overrides(url, "teacher.api_key_env=ELAD_TEST_KEY",
                                            "max_rounds=1")
        assert main(["run", *overrides, "--run-dir", str(tmp_path / "good")]) == 0
    with serve(OracleServer(api_key="another key")) as (_, url):
        overrides = TINY + openai_overrides(url, "teacher.api_key_env=ELAD_TEST_KEY")
        assert main(["run", *overrides, "--run-dir", str(tmp_path / "refused")]) == 2
    out, err = capsys.readouterr()
    assert "Incorrect API key provided: ***" in err  # the server's message, scrubbed
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "run.sqlite" for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    assert key not in out + err + caplog.text


def _stored_prompts(db_path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT request FROM teacher_calls").fetchall()
    return {sha256(json.loads(r[0])["prompt"].encode()).hexdigest() for r in rows}


def _elad_run(url: str) -> list[str]:
    """A run stopped in round 1 (of 1) and resumed; round 2 would add time, not cover.
    Its student writes its targets whole (96 new tokens): no warning but the stop's."""
    return [sys.executable, "-m", "elad.cli", "-q", "run", *TINY, "max_rounds=1",
            "student.max_new_tokens=96", *openai_overrides(url, "teacher.concurrency=2")]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The records of the run the interrupted ones are compared with, made in one go."""
    run_dir = tmp_path_factory.mktemp("straight")
    with serve(OracleServer()) as (_, url):
        done = subprocess.run([*_elad_run(url), "--run-dir", str(run_dir)],
                              capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return load_records(run_dir)


class SignallingServer(OracleServer):
    """The oracle server that sends `how` to `process` as it answers the 3rd of round
    1's 8 requests: from the server's own thread, so a busy test process cannot send it
    late (once, polling from here, the run had finished before the signal went)."""

    def __init__(self, how: int, **options):
        super().__init__(**options)
        self.how, self.process = how, None

    def record(self, attempt) -> None:
        super().record(attempt)
        if len(self.ledger) == 16 + 3 and self.process is not None:
            self.process.send_signal(self.how)


def _sigint_as_in_a_terminal() -> None:
    """In the run's process before it starts: SIGINT delivered and not ignored, whatever
    this process inherited or a library's thread set (blocked or ignored, the run would
    never see the Ctrl-C and would finish: seen in full-suite runs)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stopped_in_round_1s_teacher_phase(process, server) -> int:
    """How many requests the server had answered when `process` ended, which `server`
    signalled in round 1's teacher phase."""
    process.wait(timeout=300)
    stopped_at = len(server.ledger)
    assert 16 + 3 <= stopped_at < 16 + 8  # it stopped in round 1's teacher phase
    return stopped_at


def test_sigkill_in_the_teacher_phase_then_rerun_asks_nothing_twice(tmp_path, straight):
    server = SignallingServer(signal.SIGKILL, latency_s=0.2)
    with serve(server) as (_, url):
        command = [*_elad_run(url), "--run-dir", str(tmp_path / "killed")]
        server.process = subprocess.Popen(command)
        killed_at = _stopped_in_round_1s_teacher_phase(server.process, server)
        stored = _stored_prompts(tmp_path / "killed" / "run.sqlite")
        assert len(stored) >= 16 + 1

        resumed = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                 check=False)
        assert resumed.returncode == 0, resumed.stderr
    asked_again = [a for a in server.ledger[killed_at:] if a.prompt_hash in stored]
    assert asked_again == []
    assert load_records(tmp_path / "killed") == straight


def _sigint_ignored_as_in_a_background_job() -> None:
    """In the run's process: SIGINT ignored, as a shell script's `elad run ... &` has it
    (before, SIGTERM there ended the run without waiting for the requests in flight)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# SIGTERM takes one path whether SIGINT is ignored or not (gateway.stoppable): the
# background job's case covers a terminal's too
@pytest.mark.parametrize("how, start", [
    (signal.SIGINT, _sigint_as_in_a_terminal),
    (signal.SIGTERM, _sigint_ignored_as_in_a_background_job)],
    ids=["ctrl-c", "sigterm-to-a-background-job"])
def test_ctrl_c_is_one_line_and_exit_130_then_the_rerun_equals_a_straight_run(
        tmp_path, straight, how, start):
    """Ctrl-C, and SIGTERM as `timeout`, Slurm or Docker send it (before, SIGTERM ended
    the run at once and the requests in flight were paid for again by the rerun)."""
    server = SignallingServer(how, latency_s=0.2)
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}  # transformers'
    with serve(server) as (_, url):
        command = [*_elad_run(url), "--run-dir", str(tmp_path / "interrupted")]
        interrupted = server.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=quiet,
            preexec_fn=start)
        stopped_at = _stopped_in_round_1s_teacher_phase(interrupted, server)
        assert interrupted.returncode == 130
        *waited, last = interrupted.stderr.read().splitlines()  # no traceback
        assert last == "interrupted; rerun the same command to resume"
        assert len(waited) <= 1 and all(" interrupted: waiting up to 60s for the " in line
                                        for line in waited)
        stored = _stored_prompts(tmp_path / "interrupted" / "run.sqlite")
        assert len(stored) >= 16 + 1  # the replies received before Ctrl-C are kept

        resumed = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                 check=False)
        assert resumed.returncode == 0, resumed.stderr
    assert [a for a in server.ledger[stopped_at:] if a.prompt_hash in stored] == []
    # the requests in flight at Ctrl-C were waited for: no reply was paid for twice
    assert max(Counter(prompt for prompt, _ in server.bills()).values()) == 1
    assert waited  # there were requests in flight to wait for
    assert load_records(tmp_path / "interrupted") == straight


def test_teacher_check_prints_model_tokens_prices_and_estimate(capsys):
    with serve(OracleServer()) as (_, url):
        code = main(["teacher", "check", *openai_overrides(url, "teacher.model=gpt-4o-mini",
                                                            "teacher.price_input_per_mtok=-1",
                                                            "teacher.price_output_per_mtok=-1")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"model gpt-4o-mini at {url}" in out
    prompt = render("annotate", load_task(load_config().task, 0).pool[0].question)
    reply_tokens = count_tokens(json.dumps(oracle_answer(prompt)))
    assert f"{count_tokens(prompt)} input + {reply_tokens} output tokens, usable" in out
    assert "$0.000150 per 1k input tokens, $0.000600 per 1k output tokens" in out
    assert "for 300 requests" in out  # the default run: 100 seed questions + 4 x 50


def test_teacher_check_with_an_unusable_reply_prices_the_run_offline(capsys):
    """A refused request bills no token: the estimate is the offline one (--dry-run's),
    not one with a prompt of zero tokens."""
    with serve(OracleServer(fail_first=9, faults=("413",))) as (_, url):
        overrides = openai_overrides(url)
        assert main(["teacher", "check", *overrides]) == 1  # not usable: exit 1
        check = capsys.readouterr().out
        assert main(["run", *overrides, "--dry-run"]) == 0
    offline = capsys.readouterr().out
    assert "0 input + 0 output tokens, NOT usable: the server refused" in check
    about = offline.split("this run: ")[1].split("about ")[1].split(";")[0]
    assert f"priced offline (this reply is not usable): about {about} for " in check


def test_a_question_the_oracle_cannot_answer_is_refused_at_once_and_costs_nothing(tmp_path):
    """The oracle server knows only synthetic questions: another is refused (HTTP 400)
    with that said, not sent again and not billed; the files it writes are answered."""
    with serve() as (server, url):
        teacher = cached_teacher(tmp_path, url)
        _, result = annotate_once(teacher, "A couple with two children has 3 pets. "
                                           "How many legs?")
        write_questions(tmp_path / "demo", pool_size=6, test_size=2)
        pool = [json.loads(line) for line in (tmp_path / "demo" / "questions.jsonl").open()]
        test = [json.loads(line) for line in (tmp_path / "demo" / "test.jsonl").open()]
        _, answered = annotate_once(teacher, pool[0]["question"])
    assert not result.reply.ok and "answers only elad's synthetic questions" in result.reply.error
    assert [a.outcome for a in server.ledger] == ["refused", "ok"]
    assert teacher.store.spent_usd() == pytest.approx(server.billed_usd(2.5, 10.0))
    assert server.billed_usd(2.5, 10.0) > 0  # the answered one only
    assert len(pool) == 6 and all(set(q) == {"question"} for q in pool)
    assert len(test) == 2 and all(t["answer"] for t in test)
    assert answered.reply.ok
