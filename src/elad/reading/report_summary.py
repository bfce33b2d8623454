"""The top of a run's report: what the run bought (final test accuracy, dollars paid,
training targets by kind, why it stopped) and, where there is a baseline run, the
verdict in one line, so that a reader has the answer before the details. Also the words
the page uses for why a run stops and for 'confirmed'. Never imports torch."""

from __future__ import annotations

from elad.config import RunConfig
from elad.reading.html_page import Markup, tag
from elad.reading.run_numbers import Baseline, equal_accuracy_savings
from elad.store import RunStore
from elad.types import RoundRecord, StopReason

CONFIRMED = ("the fraction of this round's questions where the teacher's answer was the "
             "student's own, whether it revised the student's explanation or annotated "
             "the question")

STOP_WHY = {
    StopReason.SATURATED: "the teacher's latest verdicts show, with 90% confidence, that it "
                          "confirms at least {saturation:.0%} (saturation) of the "
                          "questions: the student's most uncertain questions are now "
                          "answered right, more teacher money buys little",
    StopReason.BUDGET_SPENT: "what is left of the budget does not cover one more teacher "
                             "request at what the last round paid per request, or the "
                             "worst case that each request holds until its reply",
    StopReason.POOL_EXHAUSTED: "the teacher has been asked about every pool question",
    StopReason.MAX_ROUNDS: "max_rounds={max_rounds}: {rounds} after the seed round done",
    StopReason.LOW_GAIN: "the forecast said the next round buys less than "
                         "stop_gain_per_usd={stop_gain_per_usd} accuracy per dollar",
}


def stop_words(reason: str) -> str:
    """A stop reason as the `stopped:` lines say it: "budget spent", which may leave
    money, with why (STOP_WHY's words)."""
    if reason == StopReason.BUDGET_SPENT:
        return f"{reason} ({STOP_WHY[StopReason.BUDGET_SPENT]})"
    return reason or "not finished"


def why_stopped(config: RunConfig, last: RoundRecord) -> str:
    """Why a run stopped after its `last` round, in words, with the setting that
    stopped it (and the rounds done: more than max_rounds once a grown run's first
    command is run again, or max_rounds is lowered after a run: said so)."""
    why = STOP_WHY[StopReason(last.stop_reason)].format(
        saturation=config.saturation, max_rounds=config.max_rounds,
        rounds=count(last.round, "round"),
        stop_gain_per_usd=config.stop_gain_per_usd)
    if last.stop_reason == StopReason.MAX_ROUNDS and last.round > config.max_rounds:
        why += ", more than max_rounds: it was lowered after them"
    return why


def target_kinds(store: RunStore) -> dict[str, int]:
    """The run's training targets by the teacher's operation that made them: revisions
    of the student's explanation (and how many of those the teacher found no error in)
    and annotations written from scratch."""
    made_by = {(c.round, c.example_id): c.op for c in store.teacher_calls() if c.ok}
    targets = store.targets()
    revised = [t for t in targets if made_by.get((t.round, t.example_id)) == "revise"]
    return {"targets": len(targets), "revisions": len(revised),
            "unchanged": sum(t.no_wrong_step for t in revised),
            "annotations": len(targets) - len(revised)}


def verdict_line(records: list[RoundRecord], baseline: Baseline) -> str:
    """The comparison with `baseline` in one line: money saved (or paid more) at the
    highest test accuracy both runs reached, once that is above both seed rounds'."""
    savings = equal_accuracy_savings(records, baseline.records)
    notes = "".join(f" {note}" for note in baseline.notes)
    if savings is None:
        return f"Verdict against the baseline {baseline.name}: no finished round to " \
            f"compare yet.{notes}"
    level, mine, theirs = savings
    if level <= min(records[0].test_accuracy, baseline.records[0].test_accuracy):
        return (f"Verdict against the baseline {baseline.name}: none yet, neither run "
                f"is above its seed round's test accuracy (this run "
                f"{records[0].test_accuracy:.3f}, the baseline "
                f"{baseline.records[0].test_accuracy:.3f}).{notes}")
    both = f"at test accuracy {level:.3f} (this run ${mine:.4f}, the baseline ${theirs:.4f})"
    last, theirs_last = records[-1], baseline.records[-1]  # coarse rounds: the ends too
    ends = (f"; at the end, this run {last.test_accuracy:.3f} for ${last.cost_usd:.4f}, "
            f"the baseline {theirs_last.test_accuracy:.3f} for ${theirs_last.cost_usd:.4f}")
    if mine <= theirs:
        share = f" ({(theirs - mine) / theirs:.0%} of the baseline's cost)" if theirs else ""
        return (f"Verdict against the baseline {baseline.name}: this run saved "
                f"${theirs - mine:.4f}{share} {both}{ends}.{notes}")
    return (f"Verdict against the baseline {baseline.name}: this run paid "
            f"${mine - theirs:.4f} more {both}{ends}.{notes}")


def bought_section(store: RunStore, config: RunConfig, records: list[RoundRecord],
                   baseline: Baseline | None) -> list[Markup]:
    """What the run bought, first on the page: the verdict against the baseline (if
    any), the final test accuracy, the dollars paid, the targets and why it stopped."""
    last = records[-1] if records else None
    head = tag("h2", "What the run bought")
    if last is None:
        return [head, tag("p", "No finished round yet.", cls="bought")]
    first = records[0]
    kinds = target_kinds(store)
    paid = spending(store, last)
    spent, test_set = paid["all"], paid["the test set"]
    lines = [
        (f"Test accuracy {last.test_accuracy:.3f} after round {last.round} "
         f"({first.test_accuracy:.3f} after the seed round"
         + ("" if first.accuracy_before is None else
            f", {first.accuracy_before:.3f} before any teacher money") + ")."),
        (f"Teacher cost ${last.cost_usd:.4f} of the ${config.budget_usd:g} budget "
         f"({last.teacher_calls} calls)"
         + (f", and ${test_set:.4f} apart for the teacher's test set annotations"
            if test_set else "")
         + (f"; ${spent:.4f} paid in all, counting {' and '.join(beyond)}."
            if (beyond := beyond_rounds(paid, last)) else ".")),
        (f"Training targets: {kinds['targets']}: "
         f"{count(kinds['revisions'], 'revision')} of the student's explanation "
         f"({kinds['unchanged']} found without error) and "
         f"{count(kinds['annotations'], 'annotation')} written by the teacher."),
        (f"Stopped after round {last.round}: {last.stop_reason}: "
         f"{why_stopped(config, last)}." if last.stop_reason else
         f"Not stopped yet (last finished round: {last.round})."),
    ]
    verdict = (tag("p", verdict_line(records, baseline), cls="verdict") if baseline
               else tag("p", "No baseline to compare with: `elad report DIR --baseline "
                             "OTHER_RUN_DIR` (a strategy=random mode=annotate run of the "
                             "same config, say) adds the verdict here.", cls="muted"))
    return [head, verdict, tag("ul", *(tag("li", line) for line in lines), cls="bought")]


def worst_case_note(store: RunStore) -> str:
    """How many of the run's teacher tokens are the worst case of attempts whose usage
    the server never reported; "" when none is."""
    attempts, tokens_in, tokens_out = store.worst_case_totals()
    if not attempts:
        return ""
    return (f"{tokens_in:,} input and {tokens_out:,} output tokens are the worst case of "
            f"{count(attempts, 'attempt')} whose usage the server never reported (timed "
            "out, an unreadable reply, a reply without usage), charged so as the budget "
            "must assume: the server may have billed less")


def lowered_below(spent: float, budget: float) -> bool:
    """Whether the budget was lowered below what the run had spent (a way to stop a
    run: a budget is never overspent otherwise)."""
    return spent > budget + 1e-9


def spending(store: RunStore, last: RoundRecord | None) -> dict[str, float]:
    """What the budget has paid ("all"), and what the rounds shown (up to `last`; None:
    none) leave out of it: the test set's annotations, requests whose reply never came
    and a batch not collected yet (at their worst case), a round not finished."""
    batch = store.uncollected_batch_usd()
    spent = store.spent_usd() + batch
    apart = {"the test set": store.test_set_totals()["cost_usd"],
             "unconfirmed": store.unconfirmed_usd(),
             "a batch not collected yet": batch}
    apart["a round not finished"] = spent - (last.cost_usd if last else 0.0) \
        - sum(apart.values())
    return {"all": spent, **apart}


def beyond_rounds(paid: dict[str, float], last: RoundRecord) -> list[str]:
    """What the spent figure counts beyond the rounds and the test set, in words."""
    words = {"a round not finished": f"round {last.round + 1}, not trained on"
             if last.stop_reason else "the round under way",
             "unconfirmed": "requests whose replies never arrived (or are in flight)",
             "a batch not collected yet": "a batch not collected yet"}
    return [said for key, said in words.items() if paid[key] >= 5e-5]


def untrained_round(paid: dict[str, float], last: RoundRecord | None) -> str:
    """What a stopped run says of the round after its last one when it was paid for
    (a limit lowered, or a stop rule changed, after its replies came): those are not
    trained on unless the run goes on; "" when there is none."""
    if last is None or not last.stop_reason or paid["a round not finished"] < 5e-5:
        return ""
    setting = (f"max_rounds={last.round + 1} or more" if last.stop_reason
               == StopReason.MAX_ROUNDS else f"what stopped it: {last.stop_reason}")
    return (f"round {last.round + 1}'s replies (${paid['a round not finished']:.4f}) were "
            f"paid for before the run stopped after round {last.round}, and are not "
            f"trained on: a rerun that goes past round {last.round} ({setting}) trains on "
            "them, and `elad export-data` writes them")


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
