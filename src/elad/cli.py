"""The `elad` command: each subcommand parses its arguments and calls one function.

    elad run [CONFIG] [--run-dir DIR] [key=value ...]   run, resume, or reprint a run
    elad score --run-dir DIR [--round N] --out FILE     why each pool question would be chosen
    elad report DIR [--format table|json]               the per-round records of a run,
                                                        and DIR/report.html
    elad bench [CONFIG] --out DIR [key=value ...]       strategies x modes x seeds, and
                                                        the whole-pool reference
    elad teacher check [CONFIG] [key=value ...]         one request: latency, tokens, cost
    elad export DIR --out OUT [--adapter-only]          the final student as a model folder
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from elad.config import ConfigError, ScaleError, load_config
from elad.report import format_aurocs, format_table, load_records, write_run_report
from elad.teacher.protocol import TeacherUnavailable


def config_from_items(items: list[str]):
    """A config from an optional file and key=value overrides on the command line."""
    paths = [a for a in items if "=" not in a]
    if len(paths) > 1:
        raise ConfigError(f"expected at most one config file, got {' '.join(paths)}")
    return load_config(Path(paths[0]) if paths else None, [a for a in items if "=" in a])


def run_command(args: argparse.Namespace) -> int:
    from elad.loop import run  # imports torch; `elad report` does not need it
    from elad.pool_scores import selection_diagnostic

    config = config_from_items(args.items)
    run_dir = Path(args.run_dir)
    print(f"run directory: {run_dir}   strategy={config.strategy} mode={config.mode} "
          f"seed={config.seed} budget=${config.budget_usd}", flush=True)
    printed = []

    def print_row(record):  # live rows as rounds finish; the header before the first
        print(format_table([record], header=not printed), flush=True)
        printed.append(record)

    records, teacher = run(config, run_dir, on_round=print_row,
                           show_progress=sys.stderr.isatty() and not args.quiet)
    print()
    print(format_table(records))
    last = records[-1]
    print(f"stopped: {last.stop_reason or 'not finished'}; "
          f"teacher calls made now: {teacher.new_calls}")
    diagnostic = selection_diagnostic(run_dir)
    if diagnostic:
        print(f"\nround {diagnostic[0]} candidates, scored by the round "
              f"{diagnostic[0] - 1} student.")
        print(format_aurocs(diagnostic[1]))
    return 0


def score_command(args: argparse.Namespace) -> int:
    from elad.pool_scores import score_pool  # imports torch

    round, aurocs = score_pool(Path(args.run_dir), args.round, args.limit, Path(args.out),
                               show_progress=sys.stderr.isatty() and not args.quiet)
    print(f"wrote {args.out}: pool questions scored with the student of round {round}")
    print(format_aurocs(aurocs))
    return 0


def report_command(args: argparse.Namespace) -> int:
    records = load_records(Path(args.run_dir))
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in records], indent=2))
    else:
        print(format_table(records))
    path = write_run_report(Path(args.run_dir), args.examples)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def teacher_check_command(args: argparse.Namespace) -> int:
    from elad.teacher.check import check_teacher, format_check

    config = config_from_items(args.items)
    result = check_teacher(config)
    print(format_check(result, config))
    return 0 if result.reply.ok else 1


def export_command(args: argparse.Namespace) -> int:
    from elad.rundir import RunDir
    from elad.student import export_student  # imports torch

    with RunDir.open(Path(args.run_dir)) as run:
        config, round = run.config, run.trained_round(args.round)
        checkpoint = run.checkpoint(round)
    if args.adapter_only and not (config.student.kind == "hf"
                                  and config.student.finetune == "lora"):
        raise ConfigError("--adapter-only needs a LoRA student (student.kind=hf, "
                          "student.finetune=lora)")
    export_student(config.student, checkpoint, Path(args.out), merged=not args.adapter_only)
    kind = "LoRA adapter" if args.adapter_only else "model"
    print(f"wrote {args.out}: the round {round} student as a Hugging Face {kind} folder")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from elad.bench import bench  # imports torch
    from elad.bench_summary import format_bench_table, format_comparisons

    config = config_from_items(args.items)
    command = " ".join(["elad bench", *args.items, "--out", args.out,
                        *(["--strategies", args.strategies] if args.strategies else []),
                        *(["--modes", args.modes] if args.modes else []),
                        *(["--seeds", args.seeds] if args.seeds else []),
                        *(["--no-whole-pool"] if args.no_whole_pool else []),
                        *(["--jobs", str(args.jobs)] if args.jobs else [])])
    try:
        summary = bench(config, Path(args.out), _names(args.strategies),
                        _names(args.modes), _names(args.seeds),
                        whole_pool=not args.no_whole_pool, command=command, jobs=args.jobs,
                        show_progress=sys.stderr.isatty() and not args.quiet,
                        on_line=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("\ninterrupted; the same command resumes the grid", file=sys.stderr)
        return 130
    print()
    print(format_bench_table(summary))
    print()
    print(format_comparisons(summary))
    print(f"\nwrote {Path(args.out) / 'bench.json'}, {Path(args.out) / 'index.html'} "
          f"and the plots; this invocation took {summary['this_invocation_s'] / 60:.1f} "
          f"min; making the grid's runs took {summary['wall_s'] / 60:.1f} min of wall time "
          f"over {summary['invocations']} invocation(s)")
    return 0


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="elad", description=(
        "Explanation-guided active distillation: teach a small student to reason like a "
        "teacher LLM while paying the teacher as little as possible."))
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or logs")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="run, resume or reprint an experiment")
    run_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value",
                            help="a TOML config file and/or overrides like strategy=random")
    run_parser.add_argument("--run-dir", default="elad-run",
                            help="where the run store and checkpoints live (default: %(default)s)")
    run_parser.set_defaults(handler=run_command)

    score_parser = commands.add_parser(
        "score", help="score pool questions with a round's student; say why each would "
        "be chosen, and how well each strategy predicts the student's mistakes")
    score_parser.add_argument("--run-dir", required=True)
    score_parser.add_argument("--round", type=int, default=None,
                              help="whose student scores (default: the last trained)")
    score_parser.add_argument("--out", required=True, help="JSON lines, one per question")
    score_parser.add_argument("--limit", type=int, default=500,
                              help="pool questions to score, a seeded sample (%(default)s)")
    score_parser.set_defaults(handler=score_command)

    report_parser = commands.add_parser(
        "report", help="print a run's per-round records and write DIR/report.html")
    report_parser.add_argument("run_dir", metavar="DIR")
    report_parser.add_argument("--format", choices=("table", "json"), default="table")
    report_parser.add_argument("--examples", type=int, default=3,
                               help="selected questions shown per round (%(default)s)")
    report_parser.set_defaults(handler=report_command)

    teacher_parser = commands.add_parser("teacher", help="check the configured teacher")
    teacher_commands = teacher_parser.add_subparsers(dest="teacher_command", required=True)
    check_parser = teacher_commands.add_parser(
        "check", help="one tiny request: model, latency, tokens, prices, and an estimate "
        "of what the configured run would cost")
    check_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value")
    check_parser.set_defaults(handler=teacher_check_command)

    export_parser = commands.add_parser(
        "export", help="write a run's student as a Hugging Face model folder (LoRA merged "
        "in), or as its LoRA adapter alone")
    export_parser.add_argument("run_dir", metavar="DIR")
    export_parser.add_argument("--out", required=True, help="the folder to write")
    export_parser.add_argument("--round", type=int, default=None,
                               help="whose student (default: the last trained)")
    export_parser.add_argument("--adapter-only", action="store_true",
                               help="a LoRA student's adapter, not merged into the model")
    export_parser.set_defaults(handler=export_command)

    bench_parser = commands.add_parser(
        "bench", help="compare strategies x teacher modes x seeds against the whole-pool "
        "reference: table, DIR/bench.json, plots, DIR/index.html (resumable)")
    bench_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value",
                              help="the config every run shares, and overrides")
    bench_parser.add_argument("--out", required=True, help="the grid's directory")
    bench_parser.add_argument("--strategies", help="comma-separated (default: random, "
                              "entropy, least-confidence, elad)")
    bench_parser.add_argument("--modes", help="comma-separated (default: annotate, revise)")
    bench_parser.add_argument("--seeds", help="comma-separated (default: 0,1,2)")
    bench_parser.add_argument("--no-whole-pool", action="store_true",
                              help="skip the reference that annotates every pool question "
                              "(with a paid teacher it pays for the whole pool)")
    bench_parser.add_argument("--jobs", type=int, default=None,
                              help="runs at a time (default: one per core without a GPU, "
                              "else 1)")
    bench_parser.set_defaults(handler=bench_command)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpx2", "openai"):  # one line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except (ConfigError, FileNotFoundError, TeacherUnavailable, ScaleError) as error:
        print(f"elad: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
