"""The `elad` command: each subcommand parses its arguments and calls one function.

    elad init OUT.toml --data FILE [--teacher-model M] ...  a config for your questions
    elad run [CONFIG] [--run-dir DIR] [--format json] [k=v ...]  run, resume or reprint a run
    elad run [CONFIG] --dry-run [k=v ...]               what it will cost, offline
    elad plan [CONFIG] [--run-dir DIR] [--target ACC] [k=v ...] the first rounds, a forecast
    elad score DIR [--round N] --out FILE               why each pool question would be chosen
    elad report DIR [--format json] [--baseline OTHER_RUN_DIR]  records, DIR/report.html
    elad bench [CONFIG] --run-dir DIR [key=value ...]   strategies x modes x seeds

Wherever a command reads or writes a run, DIR and --run-dir DIR are the same (run and
plan take DIR among their items; bench's --out is its --run-dir); -q goes before or after
the subcommand.
    elad teacher check [CONFIG] [key=value ...]         one request: latency, tokens, cost
    elad export DIR --out OUT [--adapter-only]          the student as a model folder + card
    elad export-data DIR --out OUT [--teacher-replies]  targets (and replies): TRL data
    elad config [--init | --effective [CONFIG] [k=v]]   every setting: default, type, help
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import signal
import sqlite3
import sys
from functools import partial
from pathlib import Path

from elad.cli_parser import make_parser
from elad.config import ConfigError, ScaleError, load_config
from elad.lock import refuse_if_held
from elad.progress import show_bars
from elad.reading.export_data import ExportError
from elad.rundir import STORE, CheckpointError, RunDir, refused_change, stored_config
from elad.store_schema import store_error
from elad.teacher.protocol import TeacherUnavailable

log = logging.getLogger("elad")


def config_from_items(items: list[str], base=None):
    """A config from an optional file and key=value overrides on the command line,
    over the defaults or over `base` (the stored config of the run being resumed)."""
    paths = [a for a in items if "=" not in a]
    if len(paths) > 1:
        raise ConfigError(f"expected at most one config file, got {' '.join(paths)}")
    return load_config(Path(paths[0]) if paths else None, [a for a in items if "=" in a],
                       base)


EXIT_BATCH_RUNNING = 75  # EX_TEMPFAIL: a teacher batch is running; run again to collect it


def run_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    # an existing run resumes with its stored config; what is given here applies on top
    stored = stored_config(run_dir)
    config = config_from_items(args.items, stored)
    refused = refused_change(run_dir, config)
    if args.dry_run:  # the estimate alone: no torch, no teacher call
        from elad.estimate import estimate_run, format_estimate

        print(format_estimate(estimate_run(config), config))
        if stored is not None:  # the estimate is of a whole run
            with RunDir.open(run_dir) as rundir:
                spent = rundir.store.spent_usd()
            print(f"{run_dir} has run already: it has spent ${spent:.4f} of its "
                  f"${config.budget_usd} budget (the estimate above is of a whole run)")
            if refused:
                print(f"the run itself would refuse this config change: {refused}")
        return 0
    if refused:  # before its start line, which would show the refused values
        raise ConfigError(refused)
    refuse_if_held(run_dir)  # before torch is imported: a refusal comes at once
    from elad.loop import run  # imports torch; `elad report` does not need it
    from elad.reading.diagnostics import format_aurocs, selection_diagnostic
    from elad.reading.report import format_table
    from elad.reading.report_summary import stop_words
    from elad.reading.run_numbers import load_records
    from elad.reading.stop_line import spent_text
    from elad.run_forecast import forecast_line
    from elad.teacher.batch import BatchPending
    from elad.types import StopReason

    table = args.format == "table"
    say = partial(print, flush=True) if table else log.info  # json: the records alone
    say(f"run directory: {run_dir}   strategy={config.strategy} mode={config.mode} "
        f"seed={config.seed} budget=${config.budget_usd}")
    shown: set[int] = set()

    def show_rows(records: list) -> None:  # each round's row once, in order, as it comes
        new = [r for r in records if r.round not in shown]
        if table and new:
            print(format_table(new, header=not shown), flush=True)
        shown.update(r.round for r in new)

    try:
        records, teacher = run(config, run_dir,
                               on_round=lambda record: show_rows(load_records(run_dir)))
    except BatchPending as pending:
        print(f"elad: {pending}", file=sys.stderr)
        return EXIT_BATCH_RUNNING
    show_rows(records)
    reason = stop_words(records[-1].stop_reason)
    if records[-1].stop_reason == StopReason.MAX_ROUNDS and not teacher.new_calls:
        # reread, or grown by budget_usd alone: what would make it go on
        reason += f" (max_rounds={config.max_rounds}: above {records[-1].round} goes on)"
    say(f"stopped: {reason}; "
        f"teacher calls made now: {teacher.new_calls}; "
        f"{spent_text(run_dir, records[-1], config.budget_usd)}; "  # a kill's unconfirmed
        f"forecast: {forecast_line(records[-1].forecast, config.stop_gain_per_usd)}")
    if not table:
        print(records_json(records))
        return 0
    diagnostic = selection_diagnostic(run_dir)
    if diagnostic:
        round = diagnostic[0]
        print(f"\nround {round} candidates, scored by the "
              + (f"round {round - 1} student." if round else "student before training."))
        print(format_aurocs(diagnostic[1]))
    return 0


def records_json(records: list) -> str:
    return json.dumps([r.__dict__ for r in records], indent=2)


def plan_command(args: argparse.Namespace) -> int:
    """`elad plan`: run (or resume, or read) the first rounds, print the forecast."""
    if args.rounds < 2:
        raise ConfigError(f"--rounds {args.rounds}: the forecast needs the seed round and "
                          "at least 2 more")
    if args.target is not None and not 0 < args.target <= 1:
        raise ConfigError(f"--target {args.target:g}: a test accuracy above 0 and at most "
                          "1")
    run_dir = Path(args.run_dir)
    config = config_from_items(args.items, stored_config(run_dir))
    if config.max_rounds < args.rounds:
        raise ConfigError(f"max_rounds={config.max_rounds} ends the run before round "
                          f"{args.rounds}, the last that --rounds {args.rounds} asks for "
                          f"the forecast; raise it (max_rounds={args.rounds} or more)")
    if refused := refused_change(run_dir, config):
        raise ConfigError(refused)
    refuse_if_held(run_dir)  # before torch is imported: a refusal comes at once
    from elad.estimate import whole_pool
    from elad.loop import run  # imports torch
    from elad.reading.report import format_table
    from elad.reading.stop_line import report_stop_line
    from elad.run_forecast import plan_text
    from elad.rundir import RunDir

    records, _ = run(config, run_dir, until_round=args.rounds)
    with RunDir.open(run_dir) as rundir:
        n_test = rundir.store.count_examples("test")
        pool = whole_pool(rundir.store, config)
    print(format_table(records))
    print(plan_text(records, n_test, config.budget_usd, args.target, pool,
                    config.max_rounds))
    if records[-1].stop_reason:  # before --rounds: the budget, saturation
        print(report_stop_line(run_dir, records))
    else:
        print(f"`elad run` with the same config and --run-dir {run_dir} goes on from "
              f"round {records[-1].round + 1}")
    return 0


def score_command(args: argparse.Namespace) -> int:
    from elad.pool_scores import score_pool  # imports torch
    from elad.reading.diagnostics import format_aurocs

    round, scored, asked = score_pool(Path(args.run_dir), args.round, args.limit,
                                      Path(args.out))
    print(f"wrote {args.out}: {scored.scored} pool questions scored with the student of "
          f"round {round} (the {asked} the teacher was asked about in rounds 0 to {round} "
          "left out, as the next round's candidates leave them out)")
    print(format_aurocs(scored))
    return 0


def report_command(args: argparse.Namespace) -> int:
    from elad.bench_names import grid_baseline
    from elad.reading.report import format_table, write_run_report
    from elad.reading.run_numbers import load_records
    from elad.reading.stop_line import report_stop_line

    records = load_records(Path(args.run_dir))
    baseline = Path(args.baseline) if args.baseline else grid_baseline(Path(args.run_dir))
    path = write_run_report(Path(args.run_dir), args.examples,
                            baseline)  # before a reader goes
    print(f"wrote {path}", file=sys.stderr)
    if args.format == "json":
        print(records_json(records))
    else:
        print(format_table(records))
        print(report_stop_line(Path(args.run_dir), records))
        if baseline is not None:
            print(baseline_verdict(Path(args.run_dir), baseline, records))
    return 0


def baseline_verdict(run_dir: Path, baseline_dir: Path, records: list) -> str:
    """The page's verdict against the baseline run, for the terminal too."""
    from elad.reading.report_summary import verdict_line
    from elad.reading.run_numbers import load_baseline

    with RunDir.open(run_dir) as rundir:
        return verdict_line(records, load_baseline(baseline_dir, rundir))


def teacher_check_command(args: argparse.Namespace) -> int:
    from elad.teacher.check import check_teacher, format_check

    config = config_from_items(args.items)
    result = check_teacher(config)
    print(format_check(result, config))
    return 0 if result.reply.ok else 1


def init_command(args: argparse.Namespace) -> int:
    from elad.init_config import InitOptions, init

    print(init(InitOptions.of(args)))
    return 0


def export_command(args: argparse.Namespace) -> int:
    from elad import export

    round = export(args.run_dir, args.out, args.round, args.adapter_only)
    kind = "LoRA adapter" if args.adapter_only else "model"
    print(f"wrote {args.out}: the round {round} student as a Hugging Face {kind} folder, "
          "with its model card (README.md)")
    return 0


def config_command(args: argparse.Namespace) -> int:
    from elad.config import RunConfig
    from elad.config_help import format_keys, to_toml

    if args.items and not args.effective:
        raise ConfigError("a config file or key=value needs --effective")
    if args.init:
        print(to_toml(RunConfig()), end="")
    elif args.effective:
        print(to_toml(config_from_items(args.items), note_defaults=True), end="")
    else:
        print(format_keys())
    return 0


def export_data_command(args: argparse.Namespace) -> int:
    from elad import export_data
    from elad.reading.export_data import has_datasets

    counts = export_data(args.run_dir, args.out, args.teacher_replies, args.push_to_hub)
    folders = " and as datasets folders" if has_datasets() else (
        "; no datasets folders: the datasets package is not installed (pip install "
        "'elad[export]')")
    print(f"wrote {args.out}: " + ", ".join(f"{name} ({n} rows)" for name, n in
                                            counts.items()) + f" as JSON lines{folders}")
    if args.push_to_hub:
        print(f"pushed to the hub dataset {args.push_to_hub} (one config per name)")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: runs at a time, 1 or more (left out: one "
                          "per core without a GPU)")
    from elad.bench import BenchOptions, bench  # imports torch
    from elad.reading.bench_summary import format_regimes

    config = config_from_items(args.items)
    command = " ".join(["elad bench", *args.items, "--out", args.run_dir,
                        *(["--regimes", args.regimes] if args.regimes else []),
                        *(["--strategies", args.strategies] if args.strategies else []),
                        *(["--modes", args.modes] if args.modes else []),
                        *(["--configs", args.configs] if args.configs else []),
                        *(["--seeds", args.seeds] if args.seeds else []),
                        *(["--whole-pool"] if args.whole_pool else []),
                        *(["--jobs", str(args.jobs)] if args.jobs else [])])
    given = frozenset(item.partition("=")[0].strip() for item in args.items if "=" in item)
    options = BenchOptions(_names(args.strategies), _names(args.modes), _names(args.seeds),
                           _names(args.configs), whole_pool=args.whole_pool,
                           jobs=args.jobs, command=command, regimes=_names(args.regimes),
                           given=given)
    summary = bench(config, Path(args.run_dir), options,
                    on_line=lambda line: print(line, flush=True))
    print()
    print(format_regimes(summary))
    print(f"\nwrote {Path(args.run_dir) / 'bench.json'}, "
          f"{Path(args.run_dir) / 'index.html'} "
          f"and each regime's grid in {Path(args.run_dir) / 'REGIME'}; this invocation took "
          f"{summary['this_invocation_s'] / 60:.1f} min; making the grid's runs took "
          f"{summary['wall_s'] / 60:.1f} min of wall time")
    return 0


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _stop_as_ctrl_c(signum, frame) -> None:
    """SIGTERM and SIGHUP (what `timeout`, Slurm, Docker and a closed terminal send)
    stop a run as Ctrl-C does, and the run resumes from where it stopped. While the
    teacher is asked, the gateway takes them instead (gateway.stoppable: the requests
    in flight are waited for)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # a background job's
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself, not a caller's process
        for stop in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(stop) is not signal.SIG_IGN:  # nohup's SIGHUP stays so
                signal.signal(stop, _stop_as_ctrl_c)
    args = make_parser({
        "run": run_command, "plan": plan_command, "score": score_command,
        "report": report_command, "teacher check": teacher_check_command,
        "export": export_command, "config": config_command,
        "export-data": export_data_command, "bench": bench_command,
        "init": init_command}).parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S",
                        stream=sys.stderr)
    show_bars(sys.stderr.isatty() and not args.quiet)
    for noisy in ("httpx", "httpx2", "openai",  # one line per HTTP request otherwise
                  "torch"):  # its exit hook's cache statistics, after an interrupt's line
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader that has gone is found here, not at exit
        return code
    except (ConfigError, FileNotFoundError, TeacherUnavailable, ExportError,
            ScaleError, CheckpointError) as error:
        print(f"elad: error: {error}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as error:  # damaged after it was opened and checked
        where = vars(args).get("run_dir")
        problem = store_error(Path(where) / STORE, error) if where else error
        print(f"elad: error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every reply received is in the store; a rerun resumes
        print(("\n" if sys.stderr.isatty() else "")  # off the terminal's ^C
              + "interrupted; rerun the same command to resume", file=sys.stderr, flush=True)
        if argv is None:  # the command itself: exit now, not after finalizing torch's
            sys.stdout.flush()  # objects (~20 s), nor waiting for in-flight replies;
            atexit._run_exitfuncs()  # but what libraries clean up at exit, they do (a
            os._exit(130)  # bench's worker queues, a local Ray cluster's processes)
        return 130
    except BrokenPipeError:  # `elad report DIR | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet at exit
        return 128 + signal.SIGPIPE  # 141, what a shell reports for `cat big | head`


if __name__ == "__main__":
    sys.exit(main())
