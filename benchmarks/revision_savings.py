"""What revision saves: a run's teacher dollars per training target after the seed round,
against what annotating the same questions from scratch would have cost (issue 24, done
when 3: the default mode's at most 0.85 of annotate's, in the warm regime).

The oracle teacher is deterministic, so the counterfactuals are exact: for every usable
call of rounds 1 and on, the request the run did not send is asked of the oracle (an
annotation of the same question, or a revision of the student's explanation the run
would have sent: its chosen one, with its hint) and priced as the run's teacher is; the
request it sent is counted at what it paid, with its reply. Per run, as ratios of sums
to annotating the same questions (the same targets, so ratios of dollars per target):
what the run paid, what revising every question would have cost, and what the cheaper
request for each question would have cost (the bound a perfect `mode=auto` reaches); and
the share of calls that were revisions. Over runs: the mean and its 95% interval (t
distribution). Where the student's explanation is wrong, it also counts how often each
pointer names the teacher's first wrong step: the least stable step (the optional hint)
and the first unsure step (what `auto` predicts from).

    PYTHONPATH=src python benchmarks/revision_savings.py runs/bench/warm/runs/elad-auto-s*
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from scipy import stats

from elad.asking import revise_request
from elad.budget import teacher_prices
from elad.rundir import STORE, stored_config
from elad.store import RunStore
from elad.teacher import make_teacher
from elad.teacher.gateway import annotate_request
from elad.teacher.request import TeacherRequest
from elad.types import Example, TeacherReply
from elad.uncertainty import first_unsure_step


def savings(run_dir: Path) -> dict:
    """Paid, and what annotating, revising, or the cheaper of the two would have cost,
    after the seed round of the run in `run_dir` (an oracle-teacher run)."""
    config = stored_config(run_dir)
    teacher = make_teacher(config.teacher, config.task)
    prices = teacher_prices(config.teacher)
    store = RunStore(run_dir / STORE)

    def ask(request: TeacherRequest) -> tuple[float, TeacherReply]:
        reply = asyncio.run(teacher.complete(request, None))
        return prices.cost(reply.input_tokens, reply.output_tokens), reply

    try:
        calls = [c for c in store.teacher_calls() if c.round >= 1 and c.ok]
        tasks = {e.id: e.task for e in store.examples("pool")}
        annotated, revised, pointers = [], [], []
        for call in calls:
            example = Example(call.example_id, tasks[call.example_id],
                              call.request["question"])
            score = store.scores(call.round, call.example_id)[0]
            explanations = store.explanations(call.round, call.example_id)
            sent = (call.cost_usd, call.reply)  # what the run paid for what it asked
            annotation = sent if call.op == "annotate" else ask(
                annotate_request(teacher, example, config.task.labels))
            dollars, reply = sent if call.op == "revise" else ask(
                revise_request(config, teacher, example, score, explanations))
            annotated.append(annotation[0])
            revised.append(dollars)
            if reply.first_error is not None:
                unsure = first_unsure_step(explanations[score.chosen].token_confidence,
                                           config.error_threshold)
                pointers.append((score.least_stable_step == reply.first_error,
                                 unsure == reply.first_error))
    finally:
        store.close()
    paid, instead = sum(c.cost_usd for c in calls), sum(annotated)
    ratio = (lambda dollars: dollars / instead) if instead else (lambda _: float("nan"))
    return {"run": run_dir.name, "paid": paid, "annotate": instead, "ratio": ratio(paid),
            "revise_all": ratio(sum(revised)),
            "cheaper": ratio(sum(map(min, annotated, revised))),
            "revised": sum(c.op == "revise" for c in calls) / max(1, len(calls)),
            "calls": len(calls), "wrong": len(pointers),
            "least_stable": sum(p[0] for p in pointers), "first_unsure": sum(p[1] for p in pointers)}


def interval(values: list[float]) -> str:
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return f"{mean:.3f} [95% interval {mean - half:.3f}, {mean + half:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (oracle teacher)")
    args = parser.parse_args()
    results = [savings(run) for run in args.runs]
    for r in results:
        print(f"{r['run']}: paid ${r['paid']:.4f} for {r['calls']} targets after the seed "
              f"round; annotating them: ${r['annotate']:.4f}; ratio {r['ratio']:.3f}; "
              f"revisions {r['revised']:.0%}; revising all: {r['revise_all']:.3f}; "
              f"the cheaper of the two: {r['cheaper']:.3f}")
    runs = f"{len(results)} run{'s' * (len(results) != 1)}"
    print(f"dollars per target against annotating the same questions, over {runs}: "
          f"paid {interval([r['ratio'] for r in results])}; revising all "
          f"{interval([r['revise_all'] for r in results])}; the cheaper request for each "
          f"(a perfect mode=auto) {interval([r['cheaper'] for r in results])}; revisions "
          f"{statistics.mean(r['revised'] for r in results):.0%} of the calls")
    wrong = sum(r["wrong"] for r in results)
    print(f"of {wrong} wrong explanations, the teacher's first wrong step is the least "
          f"stable step (the hint) in {sum(r['least_stable'] for r in results) / max(1, wrong):.0%}, "
          f"the first unsure step in {sum(r['first_unsure'] for r in results) / max(1, wrong):.0%}")


if __name__ == "__main__":
    main()
