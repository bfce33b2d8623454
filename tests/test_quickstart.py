"""The quickstart as written (README.md's and docs/quickstart.md's): 2,000 unlabeled
questions and 100 labeled test questions in JSON lines, every `elad` command of its shell
blocks through the real CLI (one process each) with elad's oracle server standing in for
the OpenAI API, then its Python blocks: TRL's SFTTrainer with assistant-only loss on the
messages export, and the Python API. A docs edit that breaks a command fails here.

The test changes only this, each change checked to still apply (SUBSTITUTIONS): the API's
URL becomes the oracle server's, the hub student the tiny CPU student, the key placeholder
a key the server insists on; after `elad init` the config's sizes are cut to a CPU test's
(SHRUNK), as a user edits a config; in the Python blocks the hub model TRL trains is the
exported student and SFTConfig runs two steps on the CPU. The install lines are CI's own
(.ci/run installs the project as the README says)."""

import contextlib
import json
import math
import os
import re
import runpy
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

import elad as elad_package
from elad.config import RunConfig, load_config
from elad.fakes.oracle_server import OracleServer, serve
from elad.reading.run_numbers import load_records
from elad.rundir import RunDir
from elad.tasks import synthetic

from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SOURCE = str(Path(elad_package.__file__).resolve().parents[1])  # where elad is imported from
README, GUIDE = ROOT / "README.md", ROOT / "docs" / "quickstart.md"
KEY = "sk-quickstart"  # OPENAI_API_KEY=... as the test sets it; the server refuses others
SUBSTITUTIONS = [(r"https://api\.openai\.com/v1", "{url}"),
                 (r"--student \S+", "--student tiny"),
                 (r"OPENAI_API_KEY=\.\.\.", f"OPENAI_API_KEY={KEY}")]
SHRUNK = {"seed_size": 8, "round_size": 4, "candidates": 8, "max_rounds": 1}
INSTALL = ("python3", ".venv/bin/pip", ".")  # the install lines: CI runs them
PRICES = (0.15, 0.6)  # gpt-4o-mini in elad's price table, dollars per million tokens
FAST = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-3,
        "logging_steps": 1, "save_strategy": "no", "report_to": "none", "bf16": False,
        "use_cpu": True, "disable_tqdm": True, "max_length": 256}


def quickstart(path: Path) -> str:
    """The quickstart's text: README's section, or the whole guide."""
    text = path.read_text(encoding="utf-8")
    if path == README:
        text = text[text.index("## Quickstart"):]
        text = text[:text.index("\n## ", 1)]
    return text


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def commands(text: str) -> list[str]:
    """The shell blocks' commands, a line each (continuations joined, comments and the
    install lines left out)."""
    found = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv and argv[0] not in INSTALL:
                found.append(shlex.join(argv))
    return found


def substituted(lines: list[str], url: str) -> list[str]:
    text = "\n".join(lines)
    for pattern, replacement in SUBSTITUTIONS:
        text, n = re.subn(pattern, replacement.format(url=url), text)
        assert n, f"the quickstart no longer has {pattern!r}: update SUBSTITUTIONS"
    return text.splitlines()


def write_data(folder: Path) -> list[str]:
    """questions.jsonl (2,000 questions, no answers) and test.jsonl (100 labeled ones):
    synthetic questions, which the oracle server answers. Returns the test questions."""
    data = synthetic.load(["arithmetic"], 2000, 100, 0)
    (folder / "questions.jsonl").write_text(
        "".join(json.dumps({"question": e.question}) + "\n" for e in data.pool))
    (folder / "test.jsonl").write_text("".join(
        json.dumps({"question": e.question, "answer": synthetic.solve(e.question)[1]})
        + "\n" for e in data.test))
    return [e.question for e in data.test]


def toml_value(text: str) -> str:
    """An override's value as TOML: a number as it is, anything else a string."""
    return text if re.fullmatch(r"-?[\d.e+-]+", text) else json.dumps(text)


def shrink(config: Path) -> None:
    """The sizes and tiny student of a CPU test, edited into the config init wrote."""
    text = config.read_text()
    for key, value in SHRUNK.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
        assert n == 1, key
    student = ""
    for key, value in (o.split("=") for o in TINY if o.startswith("student.")):
        name = key.removeprefix("student.")
        line = f"{name} = {toml_value(value)}"
        text, n = re.subn(rf"^{name} = .*$", line, text, flags=re.MULTILINE)  # init's
        student += "" if n else line + "\n"
    config.write_text(text.replace("[student]\n", f"[student]\n{student}", 1))


def elad(argv: list[str], folder: Path, env: dict) -> subprocess.CompletedProcess:
    """`elad ARGV` in `folder`, this test's elad (its source first on the path)."""
    path = [SOURCE, env["PYTHONPATH"]] if env.get("PYTHONPATH") else [SOURCE]
    env = {**env, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, "-m", "elad.cli", *argv], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"elad {shlex.join(argv)}\n{done.stderr[-4000:]}"
    return done


def test_the_readme_and_the_guide_show_the_same_commands():
    readme, guide = commands(quickstart(README)), commands(quickstart(GUIDE))
    assert [c for c in guide if c in readme] == readme  # the guide's walk has each, in order
    assert {c.split()[1] for c in readme if c.startswith("elad ")} >= {
        "init", "run", "report", "export-data", "export"}


@dataclass
class Walk:
    """The guide's commands, run in `folder` against the oracle `server` at `url`."""

    folder: Path
    url: str
    server: OracleServer
    test_questions: list[str]  # test.jsonl's
    printed: dict[str, str] = field(default_factory=dict)  # command -> its stdout
    bills: dict[str, list] = field(default_factory=dict)  # command -> billing log after it
    init_config: RunConfig | None = None  # as init wrote it, before shrink

    def output(self, start: str) -> tuple[str, str]:
        """(the command starting with `start`, what it printed)."""
        found = [(line, out) for line, out in self.printed.items() if line.startswith(start)]
        assert len(found) == 1, f"{start}: {list(self.printed)}"
        return found[0]

    @property
    def run(self) -> Path:
        return self.folder / "runs" / "elad"


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """The guide's commands, run in a fresh folder against the oracle server."""
    folder = tmp_path_factory.mktemp("quickstart")
    test_questions = write_data(folder)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"  # transformers' own
    with serve(OracleServer(api_key=KEY)) as (server, url):
        walk = Walk(folder, url, server, test_questions)
        for line in substituted(commands(quickstart(GUIDE)), url):
            argv = shlex.split(line)
            if argv[0] == "export":  # export OPENAI_API_KEY=...
                name, value = argv[1].split("=", 1)
                env[name] = value
                continue
            assert argv[0] == "elad", f"a quickstart command this test cannot run: {line}"
            done = elad(argv[1:], folder, env)
            walk.printed[line] = done.stdout
            walk.bills[line] = server.bills(*PRICES)
            if argv[1] == "init":
                assert server.ledger == []  # init asks the teacher nothing
                with contextlib.chdir(folder):  # its paths are the folder's
                    walk.init_config = load_config(Path("elad.toml"))
                shrink(folder / "elad.toml")
        yield walk


def run_block(code: str, folder: Path, name: str) -> None:
    """A docs' Python block, run as a script in `folder`."""
    script = folder / f"{name}.py"
    script.write_text(code)
    runpy.run_path(str(script))


def test_init_writes_the_config_for_the_files_and_prints_the_estimate(walked):
    _, out = walked.output("elad init")
    config, url = walked.init_config, walked.url
    assert ("wrote elad.toml: a run config for questions.jsonl (2,000 questions, 0 with "
            "an answer; answers compared as number, guessed") in out
    assert "estimate (offline, no teacher call): teacher gpt-4o-mini" in out
    assert "what ends it: max_rounds, after 300 requests" in out  # 100 + 4 x 50
    assert "elad run elad.toml --run-dir runs/elad" in out  # the next commands, as shown
    assert (config.task.path, config.task.test_path, config.task.pool_size) == (
        "questions.jsonl", "test.jsonl", 0)  # the whole file
    assert (config.teacher.base_url, config.teacher.model, config.budget_usd) == (
        url, "gpt-4o-mini", 20.0)
    assert config.student.kind == "tiny"


def test_the_config_shown_is_the_one_init_writes(tmp_path):
    """The quickstart's init command exactly as written (hub student, OpenAI's URL: init
    calls neither) writes the values the README and the guide show."""
    write_data(tmp_path)
    [init] = [c for c in commands(quickstart(README)) if c.startswith("elad init")]
    elad(shlex.split(init)[1:], tmp_path, dict(os.environ))
    written = tomllib.loads((tmp_path / "elad.toml").read_text())
    for path in (README, GUIDE):
        [shown] = blocks(quickstart(path), "toml")
        assert tomllib.loads(shown) == written, path.name
    # no labeled questions: without --test, the teacher annotates 100 held out of the pool
    without = re.sub(r" --test \S+", "", init).replace("elad.toml", "teacher-test.toml")
    out = elad(shlex.split(without)[1:], tmp_path, dict(os.environ)).stdout
    task = tomllib.loads((tmp_path / "teacher-test.toml").read_text())["task"]
    assert (task["test_from_teacher"], task["test_path"]) == (100, "")
    assert "pool: 1,900 questions" in out
    assert "teacher-annotated test set: 100 requests" in out


def test_dry_run_prints_the_estimate_and_pays_nothing(walked):
    line, out = walked.output("elad run elad.toml --dry-run")
    assert walked.bills[line] == []
    assert "estimate (offline, no teacher call): teacher gpt-4o-mini" in out
    assert "pool: 2,000 questions" in out
    assert "this run: 12 teacher requests (8 in round 0, then 4)" in out  # SHRUNK
    assert "round 0" not in out.split("estimate")[0]  # nothing ran


def test_teacher_check_pays_for_one_request(walked):
    line, out = walked.output("elad teacher check")
    assert len(walked.bills[line]) == 1
    assert "output tokens, usable" in out and "what ends it: max_rounds" in out


def test_the_run_pays_for_its_rounds_and_measures_on_the_test_file(walked):
    line, out = walked.output("elad run elad.toml --run-dir runs/elad")
    records = load_records(walked.run)
    assert [r.round for r in records] == [0, 1]
    assert any(line.startswith("stopped: max rounds") for line in out.splitlines())
    assert "not available: no scored question has a known answer" in out  # unlabeled
    paid = walked.bills[line][1:]  # after the teacher check's request
    assert len(paid) == records[-1].teacher_calls == 12
    assert records[-1].cost_usd == pytest.approx(sum(cost for _, cost in paid))
    with RunDir.open(walked.run) as run:
        assert sorted(e.question for e in run.store.examples("test")) == \
            sorted(walked.test_questions)  # test.jsonl's, none held out of the pool
        assert len(run.store.examples("pool")) == 2000
        assert run.store.test_set_totals()["calls"] == 0


def test_report_prints_the_stop_line_and_writes_the_page(walked):
    _, out = walked.output("elad report runs/elad")
    assert any(line.startswith("stopped: max rounds") for line in out.splitlines())
    page = (walked.run / "report.html").read_text()
    assert "max rounds" in page


def test_the_exports_hold_what_was_paid_for(walked):
    data, model = walked.run / "data", walked.run / "final"
    rows = [json.loads(line) for line in (data / "messages.jsonl").read_text().splitlines()]
    assert len(rows) == load_records(walked.run)[-1].n_labeled
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    assert "generation" in (data / "chat_template.jinja").read_text()
    assert (data / "messages").is_dir() and (model / "config.json").is_file()
    assert "gpt-4o-mini" in (model / "README.md").read_text()  # the card names the teacher


@pytest.mark.parametrize("path", [README, GUIDE], ids=["readme", "guide"])
def test_trl_trains_on_the_messages_export_with_assistant_only_loss(walked, path,
                                                                    monkeypatch):
    import trl

    [code] = [b for b in blocks(quickstart(path), "python") if "SFTTrainer" in b]
    code, n = re.subn(r'model="[^"]+"', 'model="runs/elad/final"', code)  # the export
    assert n == 1
    made, real_config, real_trainer = [], trl.SFTConfig, trl.SFTTrainer

    class Trainer(real_trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(trl, "SFTConfig", lambda **kw: real_config(**{**kw, **FAST}))
    monkeypatch.setattr(trl, "SFTTrainer", Trainer)
    monkeypatch.chdir(walked.folder)
    run_block(code, walked.folder, f"{path.stem}_trl")
    [trainer] = made
    assert trainer.args.assistant_only_loss and trainer.state.global_step == 2
    for row in trainer.train_dataset:  # the loss on the assistant's turn alone
        labels = row["labels"]
        assert labels[0] == -100 and labels[-1] != -100, labels
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses and all(math.isfinite(x) for x in losses)


@pytest.mark.parametrize("path", [README, GUIDE], ids=["readme", "guide"])
def test_the_python_api_block_rereads_the_run_and_exports(walked, path, monkeypatch,
                                                          capsys):
    [code] = [b for b in blocks(quickstart(path), "python") if "import elad" in b]
    run, server = walked.run, walked.server
    made = [run / "report.html", run / "data" / "messages.jsonl",
            run / "final" / "config.json"]
    for path_made in made:
        path_made.unlink()
    monkeypatch.chdir(walked.folder)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    asked = len(server.ledger)
    run_block(code, walked.folder, f"{path.stem}_api")
    assert len(server.ledger) == asked  # a finished run is reread: nothing asked again
    last = load_records(run)[-1]
    assert last.stop_reason == "max rounds"
    assert capsys.readouterr().out == f"{last.test_accuracy} {last.cost_usd} max rounds\n"
    assert all(path_made.is_file() for path_made in made)


def test_the_oracle_server_command_serves_a_teacher(capsys, tmp_path):
    """`python -m elad.fakes.oracle_server --port 8000 --write-questions demo`, as the
    quickstart shows it (on a free port): it writes questions it can answer, and serves
    a teacher that `elad teacher check` reaches with no API key."""
    from elad.cli import main

    [shown] = {m for path in (README, GUIDE) for m in re.findall(
        r"`(python -m elad\.fakes\.oracle_server --port \d+ --write-questions \w+)`",
        quickstart(path))}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = shlex.split(re.sub(r"--port \d+", f"--port {port}", shown))
    server = subprocess.Popen([sys.executable, *argv[1:]], stdout=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        wrote, started = server.stdout.readline(), server.stdout.readline()
        assert wrote.startswith(f"wrote {argv[-1]}/questions.jsonl (2000 questions)")
        assert started.startswith(f"oracle teacher at http://127.0.0.1:{port}/v1")
        pool = (tmp_path / argv[-1] / "questions.jsonl").read_text().splitlines()
        test = (tmp_path / argv[-1] / "test.jsonl").read_text().splitlines()
        assert (len(pool), len(test)) == (2000, 200)
        assert main(["teacher", "check", "teacher=openai", "teacher.api_key_env=",
                     f"teacher.base_url=http://127.0.0.1:{port}/v1",
                     "teacher.model=gpt-4o-mini"]) == 0
        assert "output tokens, usable" in capsys.readouterr().out
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_grow_command_adds_rounds_to_a_finished_run(walked, tmp_path):
    """The guide's `elad run --run-dir runs/elad max_rounds=8`, on a copy of the walked
    folder, growing the run to two rounds after the seed instead of eight."""
    folder, server = walked.folder, walked.server
    [shown] = re.findall(r"`(elad run --run-dir runs/elad max_rounds=\d+)`",
                         quickstart(GUIDE))
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("sft"))
    before = load_records(copy / "runs" / "elad")
    asked = len(server.ledger)
    argv = shlex.split(re.sub(r"max_rounds=\d+", "max_rounds=2", shown))
    out = elad(argv[1:], copy, {**os.environ, "OPENAI_API_KEY": KEY}).stdout
    grown = load_records(copy / "runs" / "elad")
    assert [r.round for r in grown] == [0, 1, 2]
    assert [replace(r, stop_reason="") for r in before] == grown[:2]  # kept as they were
    assert grown[-1].stop_reason == "max rounds" and "stopped: max rounds" in out
    assert len(server.ledger) - asked == grown[-1].teacher_calls - before[-1].teacher_calls > 0
