"""The retry and re-ask rules shared by the online and batch transports (teacher/retry.py):
hand-written sequences of attempt outcomes, the decisions taken and what is billed."""

import pytest

from elad.teacher.retry import (
    ACCEPT,
    GIVE_UP,
    INVALID,
    MAX_RETRY_AFTER_S,
    REASK,
    REFUSED,
    REPLY,
    RETRY,
    TRANSIENT,
    Outcome,
    Tries,
    is_transient,
    reask,
)
from elad.types import TeacherReply


def run(tries: Tries, outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(d.action, d.why) for d in map(tries.after, outcomes)]


def linear(failures: int) -> float:
    return 10.0 * failures  # recognisable waits instead of jitter


def test_a_usable_reply_at_once_is_accepted_and_billed_its_usage():
    tries = Tries(max_retries=3, max_invalid=2)
    assert run(tries, [Outcome(REPLY, (120, 40))]) == [(ACCEPT, "")]
    assert tries.billed == (120, 40) and (tries.invalid, tries.failures) == (0, 0)


def test_invalid_reply_on_the_last_allowed_reask_gives_up_billed_every_try():
    tries = Tries(max_retries=3, max_invalid=2)
    decisions = run(tries, [Outcome(INVALID, (100, 30), "no answer"),
                            Outcome(INVALID, (150, 30), "bad step"),
                            Outcome(INVALID, (200, 30), "still bad")])
    assert decisions == [(REASK, "no answer"), (REASK, "bad step"),
                         (GIVE_UP, "no usable reply in 3 tries: still bad")]
    assert tries.billed == (450, 90)
    failed = tries.failed("annotate", decisions[-1][1])
    assert (failed.ok, failed.error) == (False, "no usable reply in 3 tries: still bad")
    assert (failed.input_tokens, failed.output_tokens) == (450, 90)


def test_usable_reply_on_the_last_allowed_reask_is_accepted_and_charged_the_invalid_ones():
    tries = Tries(max_retries=0, max_invalid=1)
    assert run(tries, [Outcome(INVALID, (100, 30), "no answer"),
                       Outcome(REPLY, (180, 25))]) == [(REASK, "no answer"), (ACCEPT, "")]
    assert tries.billed == (280, 55)


def test_no_reasks_allowed_gives_up_on_the_first_invalid_reply():
    tries = Tries(max_retries=5, max_invalid=0)
    assert run(tries, [Outcome(INVALID, (10, 5), "cut off")]) == \
        [(GIVE_UP, "no usable reply in 1 tries: cut off")]


def test_429_then_success_waits_as_asked_and_bills_only_the_reply():
    tries = Tries(max_retries=2, max_invalid=0, backoff=linear)
    first = tries.after(Outcome(TRANSIENT, reason="HTTP 429: slow down", retry_after=2.0))
    assert (first.action, first.why, first.wait_s) == (RETRY, "HTTP 429: slow down", 2.0)
    assert tries.after(Outcome(REPLY, (90, 20))).action == ACCEPT
    assert tries.billed == (90, 20) and tries.failures == 1


def test_retry_after_too_long_or_absent_backs_off_by_failures_in_a_row():
    tries = Tries(max_retries=5, max_invalid=0, backoff=linear)
    waits = [tries.after(Outcome(TRANSIENT, reason="HTTP 503", retry_after=after)).wait_s
             for after in (None, MAX_RETRY_AFTER_S + 1, MAX_RETRY_AFTER_S, 0.0)]
    assert waits == [10.0, 20.0, MAX_RETRY_AFTER_S, 0.0]


def test_a_400_is_refused_at_once_without_a_retry_and_keeps_what_was_billed():
    calls = []
    tries = Tries(max_retries=5, max_invalid=2, backoff=calls.append)
    decisions = run(tries, [Outcome(INVALID, (70, 10), "no answer"),
                            Outcome(REFUSED, reason="Error code: 400 - too long")])
    assert decisions == [(REASK, "no answer"),
                         (GIVE_UP, "the server refused the request: Error code: 400 - too long")]
    assert tries.billed == (70, 10) and tries.failures == 0 and calls == []


def test_retries_exhausted_gives_up_with_the_last_reason_and_no_last_backoff():
    calls = []
    tries = Tries(max_retries=2, max_invalid=0, backoff=lambda n: calls.append(n) or 1.0)
    decisions = run(tries, [Outcome(TRANSIENT, reason="HTTP 500: oops"),
                            Outcome(TRANSIENT, (300, 512), "timed out"),
                            Outcome(TRANSIENT, reason="HTTP 502: bad gateway")])
    assert decisions == [(RETRY, "HTTP 500: oops"), (RETRY, "timed out"),
                         (GIVE_UP, "no reply after 3 tries: HTTP 502: bad gateway")]
    assert calls == [1, 2]  # no wait is drawn for a retry that is not made
    assert tries.billed == (300, 512)  # only the timeout may have reached the model
    assert tries.reason == "HTTP 502: bad gateway"


def test_retries_and_reasks_are_counted_apart_over_the_whole_request():
    tries = Tries(max_retries=1, max_invalid=1)
    assert [a for a, _ in run(tries, [Outcome(TRANSIENT, reason="HTTP 429"),
                                      Outcome(INVALID, (5, 5), "no answer"),
                                      Outcome(TRANSIENT, reason="HTTP 429")])] == \
        [RETRY, REASK, GIVE_UP]
    assert (tries.failures, tries.invalid) == (2, 1)


def test_reached_says_whether_any_attempt_reached_the_server():
    tries = Tries(max_retries=1, max_invalid=0)
    run(tries, [Outcome(TRANSIENT, reason="connection failed", reached=False)] * 2)
    assert not tries.reached  # the online transport reports the teacher unreachable
    tries = Tries(max_retries=2, max_invalid=0)
    run(tries, [Outcome(TRANSIENT, reason="HTTP 500"),
                Outcome(TRANSIENT, reason="connection failed", reached=False)])
    assert tries.reached


def test_accepted_reply_is_charged_every_attempt():
    tries = Tries(max_retries=1, max_invalid=1)
    run(tries, [Outcome(TRANSIENT, (50, 100), "timed out"), Outcome(INVALID, (60, 7), "x"),
                Outcome(REPLY, (70, 8))])
    reply = tries.accepted(TeacherReply("annotate", None, ["2+2=4"], "4", 70, 8))
    assert (reply.input_tokens, reply.output_tokens, reply.ok) == (180, 115, True)


def test_an_unknown_outcome_is_an_error():
    with pytest.raises(ValueError, match="unknown outcome"):
        Tries(max_retries=1, max_invalid=1).after(Outcome("maybe"))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_rate_limits_and_server_errors_are_transient(status):
    assert is_transient(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 422])
def test_other_error_statuses_are_not(status):
    assert not is_transient(status)


def test_reask_quotes_the_reply_and_says_why_keeping_only_the_first_message():
    first = [{"role": "user", "content": "Q"}]
    again = reask(reask(first, "A1", "no answer"), "A2", "bad step")
    assert [m["role"] for m in again] == ["user", "assistant", "user"]
    assert again[1]["content"] == "A2" and "bad step" in again[2]["content"]


def test_a_request_stopped_before_its_re_ask_says_why_its_reply_was_unusable():
    """Not the re-ask's own timeout, which came last (helper C, stop 59: "after 1
    unusable reply (timed out)" of a reply that held no JSON)."""
    tries = Tries(max_retries=3, max_invalid=2)
    run(tries, [Outcome(INVALID, (100, 30), "the reply holds no JSON object"),
                Outcome(TRANSIENT, (120, 64), "timed out", worst_case=True)])
    stopped = tries.stopped("annotate")
    assert stopped.error == ("the run stopped before asking again after 1 unusable reply "
                             "(the reply holds no JSON object)")
    assert (stopped.input_tokens, stopped.output_tokens) == (220, 94)
