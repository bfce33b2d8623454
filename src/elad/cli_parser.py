"""The `elad` command line: every subcommand, its arguments and their help (cli.py runs
what was asked)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from elad import __version__
from elad.bench_names import CONFIGURATIONS, GRID_STRATEGIES, MODES, SEEDS, SIZES
from elad.regimes import DEFAULT_REGIMES, REGIMES

Handler = Callable[[argparse.Namespace], int]

DEFAULT_RUN_DIR = "elad-run"
CONFIG_SUFFIXES = (".toml", ".tml", ".tom", ".yaml", ".yml", ".json", ".cfg", ".ini")
ITEMS_DIR = ("without --run-dir, an item that is neither a config file's name (.toml) "
             "nor an existing file is the run directory")


def add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """The flags every command takes, before or after the subcommand: on a subcommand
    they default to SUPPRESS, so that one given before it is not overwritten."""
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress bars or information lines (warnings stay)")


def subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones (`teacher check`) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found += [command, *subcommands(command)]
    return found


def add_run_dir(parser: argparse.ArgumentParser, help: str, positional: bool = True,
                default: str | None = None, alias: str | None = None) -> None:
    """The run directory, spelled the same way by every command that reads or writes
    one: `--run-dir DIR` and (where `positional`) a plain DIR argument, or `alias`."""
    if positional:
        parser.add_argument("dir", nargs="?", metavar="DIR", help=help)
    names = ["--run-dir", *([alias] if alias else [])]
    parser.add_argument(*names, dest="run_dir", metavar="DIR", action=SameDir,
                        default=None, help=help + (" (or DIR)" if positional else ""))
    parser.set_defaults(run_dir_parser=parser, run_dir_default=default)


class SameDir(argparse.Action):
    """--run-dir (or its alias) given more than once must name one directory."""

    def __call__(self, parser, namespace, value, option=None):
        before = getattr(namespace, self.dest, None)
        if before is not None and before != value:
            parser.error(f"{option} {value}: the run directory is already {before}")
        setattr(namespace, self.dest, value)


class CommandLine(argparse.ArgumentParser):
    """The `elad` parser; after parsing, `args.run_dir` is the one run directory a
    command was given, however it was spelled."""

    def parse_args(self, args=None, namespace=None):
        parsed, extra = self.parse_known_args(args, namespace)
        if extra and hasattr(parsed, "items") and not any(a.startswith("-") for a in extra):
            parsed.items += extra  # key=value after an option: `run c.toml --dry-run k=v`
        elif extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        settle_run_dir(parsed)
        return parsed


def settle_run_dir(args: argparse.Namespace) -> None:
    """Put the run directory, given as --run-dir, as DIR or (run, plan) among the
    items, into `args.run_dir`; two different ones, or none where one is needed, are a
    usage error."""
    parser = getattr(args, "run_dir_parser", None)
    if parser is None:
        return
    named = [args.run_dir] if args.run_dir else []
    named += [args.dir] if getattr(args, "dir", None) else []
    if args.run_dir_default is not None:  # run, plan: the items may name it
        args.items = [item for item in args.items if item != args.run_dir]
        if not args.run_dir:  # else every item is a config file or an override
            named += [item for item in args.items if names_a_dir(item)]
            args.items = [item for item in args.items if not names_a_dir(item)]
    different = sorted(set(named), key=named.index)
    if len(different) > 1:
        parser.error(f"two run directories: {' and '.join(different)}")
    if not different and args.run_dir_default is None:
        parser.error("the run directory is required: DIR or --run-dir DIR")
    args.run_dir = different[0] if different else args.run_dir_default
    del args.run_dir_parser, args.run_dir_default


def names_a_dir(item: str) -> bool:
    """An item of `run` or `plan` that is not a key=value override nor a config file.
    A name with a config file's suffix that is not a directory is a config file, missing
    or mistyped ("elad.tml"), never a new run directory."""
    path = Path(item)
    if "=" in item or path.is_file():
        return False
    return path.is_dir() or path.suffix.lower() not in CONFIG_SUFFIXES


def make_parser(handlers: dict[str, Handler]) -> argparse.ArgumentParser:
    """The parser; each subcommand's `handler` is `handlers[its name]`."""
    parser = CommandLine(prog="elad", description=(
        "Explanation-guided active distillation: teach a small student to reason like a "
        "teacher LLM while paying the teacher as little as possible."))
    add_global_flags(parser, default=False)
    parser.add_argument("--version", action="version", version=f"elad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser(
        "run", help="run, resume or reprint an experiment",
        epilog="Every setting, its default and its help: `elad config`; a commented "
        "config file with every default: `elad config --init`; what a config file and "
        "overrides add up to: `elad config --effective [CONFIG] [key=value ...]`.")
    run_parser.add_argument("items", nargs="*", metavar="CONFIG | DIR | key=value",
                            help="a TOML config file and/or overrides like strategy=random "
                            "(every key: `elad config`); " + ITEMS_DIR)
    add_run_dir(run_parser, "where the run store and checkpoints live (default: "
                f"{DEFAULT_RUN_DIR})", positional=False, default=DEFAULT_RUN_DIR)
    run_parser.add_argument("--format", choices=("table", "json"), default="table",
                            help="table: rows as rounds finish; json: the round records "
                            "at the end, nothing else on stdout")
    run_parser.add_argument("--dry-run", action="store_true",
                            help="print the offline estimate (teacher requests, expected "
                            "and worst-case dollars, the whole pool's cost, the limit that "
                            "ends the run) and exit: no teacher call, no training")
    run_parser.set_defaults(handler=handlers["run"])
    add_init_parser(commands, handlers["init"])

    plan_parser = commands.add_parser(
        "plan", help="what budget should I set? run (or resume) the seed round and two "
        "more, then print the forecast: accuracy against teacher cost, with a band, and "
        "the cost to reach --target")
    plan_parser.add_argument("items", nargs="*", metavar="CONFIG | DIR | key=value",
                             help="the run's config file and/or overrides, as for `run`; "
                             + ITEMS_DIR)
    add_run_dir(plan_parser, f"the run to make or read (default: {DEFAULT_RUN_DIR}); "
                "`elad run` with the same config goes on from there", positional=False,
                default=DEFAULT_RUN_DIR)
    plan_parser.add_argument("--target", type=float, default=None,
                             help="a test accuracy (0-1): the cost to reach it")
    plan_parser.add_argument("--rounds", type=int, default=2,
                             help="rounds after the seed round to run first (at least "
                             "2: the forecast needs three points; default %(default)s)")
    plan_parser.set_defaults(handler=handlers["plan"])

    score_parser = commands.add_parser(
        "score", help="score pool questions with a round's student; say why each would "
        "be chosen, and how well each strategy predicts the student's mistakes")
    add_run_dir(score_parser, "the run whose student scores")
    score_parser.add_argument("--round", type=int, default=None,
                              help="whose student scores (default: the last trained)")
    score_parser.add_argument("--out", required=True, help="JSON lines, one per question")
    score_parser.add_argument("--limit", type=int, default=500,
                              help="pool questions to score, a seeded sample (%(default)s)")
    score_parser.set_defaults(handler=handlers["score"])

    report_parser = commands.add_parser(
        "report", help="print a run's per-round records and write DIR/report.html")
    add_run_dir(report_parser, "the run to report")
    report_parser.add_argument("--format", choices=("table", "json"), default="table",
                               help="table: the rounds and why the run stopped; json: the "
                               "round records alone")
    report_parser.add_argument("--examples", type=int, default=3,
                               help="selected questions shown per round (%(default)s)")
    report_parser.add_argument("--baseline", metavar="OTHER_RUN_DIR", default=None,
                               help="a run to compare with: its accuracy-vs-cost curve on "
                               "the same plot, and the money saved at equal accuracy "
                               "(default: in an `elad bench` grid, the random-annotate "
                               "run of the same seed)")
    report_parser.set_defaults(handler=handlers["report"])

    teacher_parser = commands.add_parser("teacher", help="check the configured teacher")
    teacher_commands = teacher_parser.add_subparsers(dest="teacher_command", required=True)
    check_parser = teacher_commands.add_parser(
        "check", help="one tiny request: model, latency, tokens, prices, and an estimate "
        "of what the configured run would cost")
    check_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value",
                              help="the run's config file and/or overrides, as for `run`")
    check_parser.set_defaults(handler=handlers["teacher check"])

    export_parser = commands.add_parser(
        "export", help="write a run's student as a Hugging Face model folder (LoRA merged "
        "in), or as its LoRA adapter alone")
    add_run_dir(export_parser, "the run whose student to export")
    export_parser.add_argument("--out", required=True, help="the folder to write")
    export_parser.add_argument("--round", type=int, default=None,
                               help="whose student (default: the last trained)")
    export_parser.add_argument("--adapter-only", action="store_true",
                               help="a LoRA student's adapter, not merged into the model")
    export_parser.set_defaults(handler=handlers["export"])

    config_parser = commands.add_parser(
        "config", help="every setting with its default, type and help; a commented "
        "config file (--init); the config a file and overrides add up to (--effective)")
    config_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value",
                               help="with --effective: a TOML config file and overrides")
    shown = config_parser.add_mutually_exclusive_group()
    shown.add_argument("--init", action="store_true",
                       help="print a TOML config with every default, each key commented")
    shown.add_argument("--effective", action="store_true",
                       help="print the merged config (defaults, CONFIG, overrides) as TOML")
    config_parser.set_defaults(handler=handlers["config"])

    data_parser = commands.add_parser(
        "export-data", help="write a run's training targets (and, optionally, every "
        "teacher reply) as TRL datasets: prompt-completion and messages JSON lines and "
        "datasets folders")
    add_run_dir(data_parser, "the run whose training targets to export")
    data_parser.add_argument("--out", required=True, help="the folder to write")
    data_parser.add_argument("--teacher-replies", action="store_true",
                             help="also every teacher call of the rounds: the prompt sent "
                                  "and the reply")
    data_parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                             help="also push each dataset to this hub dataset repo, as "
                             "one config per name (needs datasets and a hub token)")
    data_parser.set_defaults(handler=handlers["export-data"])

    bench_parser = commands.add_parser(
        "bench", help="compare strategies x teacher modes x seeds against random "
        "annotation at equal money (no run stops for saturation), in each regime (cold, "
        "warm student): table, DIR/bench.json, plots, DIR/index.html (resumable)")
    bench_parser.add_argument("items", nargs="*", metavar="CONFIG | key=value",
                              help="the config every run shares, and overrides (a size "
                              "left at its default takes the bench's: "
                              + " ".join(f"{k}={v}" for k, v in SIZES.items()) + ")")
    add_run_dir(bench_parser, "the grid's directory (a regime's runs are "
                "DIR/REGIME/runs/NAME)", positional=False, alias="--out")
    bench_parser.add_argument("--regimes", help="comma-separated, each a grid of its own: "
                              + "; ".join(f"{r.name}: {r.description}"
                                          for r in REGIMES.values())
                              + f" (default: {','.join(DEFAULT_REGIMES)}; cold alone off "
                              "the synthetic task or the tiny student); with one, the "
                              "config may differ from its overrides (the config wins)")
    bench_parser.add_argument("--configs", help="strategy/mode pairs, comma-separated "
                              f"(default: {', '.join('/'.join(c) for c in CONFIGURATIONS)})")
    bench_parser.add_argument("--strategies", help="comma-separated: every one with every "
                              f"mode of --modes (default: {', '.join(GRID_STRATEGIES)})")
    bench_parser.add_argument("--modes", help="comma-separated (default: "
                              f"{', '.join(MODES)})")
    bench_parser.add_argument("--seeds", help="comma-separated (default: "
                              f"{','.join(map(str, SEEDS))})")
    bench_parser.add_argument("--whole-pool", action=argparse.BooleanOptionalAction,
                              default=False,
                              help="add per seed the reference that annotates every pool "
                              "question and trains once (default: without; with a paid "
                              "teacher it pays for the whole pool)")
    bench_parser.add_argument("--jobs", type=int, default=None,
                              help="runs at a time (default: one per core without a GPU, "
                              "else 1)")
    bench_parser.set_defaults(handler=handlers["bench"])
    for command in subcommands(parser):  # -q and the like after the subcommand too
        add_global_flags(command, default=argparse.SUPPRESS)
    return parser


def add_init_parser(commands: argparse._SubParsersAction, handler: Handler) -> None:
    """`elad init`: a commented config for the user's own questions (init_config.py)."""
    init = commands.add_parser(
        "init", help="write a commented config for your own JSON-lines questions, a "
        "teacher and a student; check the data file; print the cost estimate and the "
        "next commands (asks for a missing teacher model in a terminal)")
    init.add_argument("out", metavar="OUT.toml", help="the config file to write (never "
                      "overwritten)")
    init.add_argument("--data", required=True, metavar="FILE",
                      help="your questions, one JSON object a line (answers optional)")
    init.add_argument("--test", metavar="FILE", help="labeled test questions (an answer "
                      "on every line); without it the teacher annotates a held-out set")
    init.add_argument("--question-field", help="the question's field (default: question)")
    init.add_argument("--answer-field", help="the answer's field (default: answer)")
    init.add_argument("--answer-type", choices=("number", "choice", "yesno", "label",
                                                "text"),
                      help="how answers are compared (default: guessed from the answers)")
    init.add_argument("--teacher-model", metavar="MODEL", help="the teacher LLM, e.g. "
                      "gpt-4o-mini (asked for in a terminal when left out)")
    init.add_argument("--base-url", metavar="URL", help="its OpenAI-compatible server "
                      "(default: OpenAI's)")
    init.add_argument("--api-key-env", metavar="VAR", help="the environment variable with "
                      "its API key (default: OPENAI_API_KEY; '' = none)")
    init.add_argument("--price-input", type=float, metavar="USD", help="dollars per "
                      "million input tokens (needed for a model not in the price table)")
    init.add_argument("--price-output", type=float, metavar="USD", help="dollars per "
                      "million output tokens")
    init.add_argument("--student", metavar="MODEL", help="a hub name or local path of a "
                      "pretrained causal LM, or tiny (the small CPU student; the default)")
    init.add_argument("--budget", type=float, metavar="USD", help="dollars the teacher may "
                      "be paid, never exceeded (default: 5)")
    init.add_argument("--skip-malformed", action="store_true", help="skip the lines that "
                      "cannot be read, as the run will (task.skip_malformed = true), "
                      "instead of stopping at the first")
    init.set_defaults(handler=handler)
