"""`elad export-data`: a run's training data in the dataset formats of TRL (Hugging
Face's trainer library), to train another student on what this run paid for.

    elad export-data runs/default --out data/ [--teacher-replies] [--push-to-hub me/name]

Writes into OUT, as JSON lines and as a `datasets` DatasetDict folder (`save_to_disk`,
one "train" split) of the same name:

  prompt_completion   every training target, TRL's standard prompt-completion format:
                      {"prompt": "Q: <question>\\nA:\\n", "completion": "<steps>\\nThe
                      answer is X."}: the student's own prompt and target text
  messages            the same targets, TRL's conversational format: {"messages":
                      [{"role": "user", "content": question}, {"role": "assistant", ...}]}
  teacher_replies     (--teacher-replies) every teacher call, usable or not:
                      {"prompt": the prompt sent, "completion": the reply as JSON}
  chat_template.jinja (a student on plain prompts: tiny, or hf without
                      student.chat_template) the student's chat template, as `elad
                      export` gives its tokenizer: the plain prompt, with the
                      explanation in `{% generation %}` markers, so TRL's
                      `assistant_only_loss=True` on `messages` puts the loss on the
                      explanation alone with any tokenizer given this template. A
                      chat-template student keeps its base model's template.

Every row also has the question's id, task, question and answer, the round, the
teacher's operation (annotate, revise), `no_wrong_step` (a revision that kept the
student's explanation as it was: not the run table's "confirmed", which asks whether the
teacher's answer was the student's), what the call cost, and the teacher's kind and
model. The JSON lines need nothing; the folders and `--push-to-hub` (one hub config per
name) need `datasets` (`pip install 'elad[export]'`). An export replaces an earlier one
in OUT whole (`written_whole`). Never imports torch.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from elad.answers import PLAIN_CHAT_TEMPLATE, format_explanation, prompt_text
from elad.config import RunConfig
from elad.rundir import RunDir
from elad.types import TeacherCall


class ExportError(RuntimeError):
    """The export cannot be done as asked; the message says why and what to install."""


def target_rows(run: RunDir) -> tuple[list[dict], list[dict]]:
    """Every training target as a prompt-completion row and as a messages row."""
    calls: dict[tuple[int, str], list[TeacherCall]] = {}
    for call in run.store.teacher_calls():
        calls.setdefault((call.round, call.example_id), []).append(call)
    tasks = tasks_by_id(run)
    plain, chat = [], []
    for target in run.store.targets():
        made = calls.get((target.round, target.example_id), [])
        about = {"id": target.example_id, "task": tasks.get(target.example_id, ""),
                 "question": target.question, "answer": target.answer,
                 "round": target.round, "operation": made[-1].op if made else "",
                 "no_wrong_step": target.no_wrong_step,
                 "cost_usd": sum(c.cost_usd for c in made), **teacher_columns(run)}
        completion = format_explanation(target.steps, target.answer)
        plain.append({"prompt": prompt_text(target.question), "completion": completion,
                      **about})
        chat.append({"messages": [{"role": "user", "content": target.question},
                                  {"role": "assistant", "content": completion}], **about})
    return plain, chat


def teacher_reply_rows(run: RunDir) -> list[dict]:
    """Every teacher call: the prompt sent and the reply, as the JSON the prompt asked
    for ("" when the reply could not be used; `error` says why)."""
    tasks = tasks_by_id(run)
    rows = []
    for call in run.store.teacher_calls():
        reply, ok = call.reply, call.ok
        if not ok:
            completion = ""
        elif call.op == "annotate":
            completion = json.dumps({"steps": reply.steps, "answer": reply.answer})
        else:
            completion = json.dumps({"first_error": reply.first_error,
                                     "continuation": reply.steps,
                                     "answer": reply.answer})
        rows.append({
            "prompt": call.request.get("prompt", ""), "completion": completion,
            "id": call.example_id, "task": tasks.get(call.example_id, ""),
            "question": call.request.get("question", ""), "answer": reply.answer,
            "round": call.round, "operation": call.op,
            "no_wrong_step": ok and call.op == "revise" and reply.first_error is None,
            "ok": ok, "error": call.error, "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens, "cost_usd": call.cost_usd,
            **teacher_columns(run)})
    return rows


def tasks_by_id(run: RunDir) -> dict[str, str]:
    return {e.id: e.task for split in ("pool", "test") for e in run.store.examples(split)}


def teacher_columns(run: RunDir) -> dict:
    return {"teacher": run.config.teacher.kind, "teacher_model": run.config.teacher.model}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def plain_prompts(config: RunConfig) -> bool:
    """Whether the student's prompts were elad's plain ones (not a chat template's)."""
    return config.student.kind != "hf" or not config.student.chat_template


def write_text(path: Path, text: str) -> None:
    """`text` into `path`, whole or not at all (a temp file, then renamed)."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def has_datasets() -> bool:
    return importlib.util.find_spec("datasets") is not None


# what marks a folder as an earlier export of each kind: a file it holds, and its text
EXPORT_MARKS = {"model": ("README.md", "a student distilled with elad"),
                "data": ("prompt_completion.jsonl", "")}
# the folders inside OUT that an export is written into, and moved up from (`written_whole`)
PARTIAL, SWAP = ".elad-partial", ".elad-swap"


def out_folder(path: str | Path, kind: str) -> Path:
    """`path` as the folder of an export of `kind` (`EXPORT_MARKS`), checked before
    anything is written (ExportError): neither it nor the nearest folder above it that
    exists may be a file, and a folder that exists must be empty or hold an earlier
    export of that kind, which the new one replaces whole (`written_whole`): files of
    two exports mixed in one folder load as neither (an old adapter beside new weights
    loads as the old student)."""
    out = Path(path).resolve()
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ExportError(f"--out {path}: {folder} is a file, not a folder")
            break
    name, text = EXPORT_MARKS[kind]
    earlier = any(mark.is_file() and text in mark.read_text(encoding="utf-8",
                                                            errors="replace")
                  for mark in (out / name, out / SWAP / name))  # a swap stopped halfway
    # (an export killed while writing leaves PARTIAL, which marks nothing: a user may
    # have put files beside it since)
    if out.is_dir() and any(p.name not in (PARTIAL, SWAP) for p in out.iterdir()) \
            and not earlier:
        raise ExportError(f"--out {path}: a folder with other files in it; an export goes "
                          f"into a new or empty folder, or replaces an earlier {kind} "
                          "export whole")
    return out


@contextmanager
def written_whole(out: Path, kind: str) -> Iterator[Path]:
    """A new folder inside `out` to write an export of `kind` into; once written, its
    files take the place of what `out` held (an earlier export, removed), and if writing
    fails it is removed and `out` is left as it was. Inside, not beside: `out` may be a
    mount point, or a folder whose parent is not writable (a container's output volume),
    which cannot be renamed. The swap goes in steps that each leave a folder
    `out_folder` takes as an earlier export, wherever it stops: the old files go, the
    export's mark (EXPORT_MARKS) last; the written folder becomes SWAP, and its files
    move up, the mark last. A folder that cannot be written is an ExportError."""
    partial, swap, made = out / PARTIAL, out / SWAP, not out.exists()
    with out_written(out):
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # a killed export's
        partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if made:
            with suppress(OSError):  # not over the error that stopped the export
                out.rmdir()
        raise
    mark = EXPORT_MARKS[kind][0]

    def mark_last(path: Path) -> bool:
        return path.name == mark

    with out_written(out):
        for old in sorted(out.iterdir(), key=mark_last):
            if old.name in (PARTIAL, SWAP):
                continue
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        shutil.rmtree(swap, ignore_errors=True)  # a stopped swap's: replaced now
        partial.rename(swap)
        for new in sorted(swap.iterdir(), key=mark_last):
            new.rename(out / new.name)
        swap.rmdir()


@contextmanager
def out_written(out: Path) -> Iterator[None]:
    """An OSError of writing `out` as the one-line ExportError that names it."""
    try:
        yield
    except OSError as error:
        raise ExportError(f"--out {out}: cannot be written ({error.strerror or error})"
                          ) from error


def export_data(run_dir: Path, out: Path, teacher_replies: bool = False,
                push_to_hub: str | None = None) -> dict[str, int]:
    """Write the run's datasets into `out` (see the module docstring); push them to the
    hub repo `push_to_hub` if given. Returns the rows written per name."""
    if push_to_hub and not has_datasets():
        raise ExportError("--push-to-hub needs the datasets package: pip install "
                          "'elad[export]'")
    with RunDir.open(run_dir) as run:
        config = run.config
        plain, chat = target_rows(run)
        tables = {"prompt_completion": plain, "messages": chat}
        if teacher_replies:
            tables["teacher_replies"] = teacher_reply_rows(run)
    if not plain:
        raise ExportError(f"{run_dir} has no training targets yet")
    datasets = {}
    with written_whole(out, "data") as folder:
        for name, rows in tables.items():
            write_jsonl(folder / f"{name}.jsonl", rows)
        if plain_prompts(config):
            write_text(folder / "chat_template.jinja", PLAIN_CHAT_TEMPLATE)
        if has_datasets():
            datasets = {name: dataset_dict(rows) for name, rows in tables.items()}
            for name, dataset in datasets.items():
                dataset.save_to_disk(folder / name)
    if push_to_hub:
        push(datasets, push_to_hub)
    return {name: len(rows) for name, rows in tables.items()}


def dataset_dict(rows: list[dict]):
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # each save takes a moment: no bars in the command's output
    return DatasetDict({"train": Dataset.from_list(rows)})


def push(datasets: dict, repo: str) -> None:
    """Each dataset as one configuration of the hub dataset `repo` (the token is
    huggingface_hub's: `hf auth login` or HF_TOKEN)."""
    for name, dataset in datasets.items():
        try:
            dataset.push_to_hub(repo, config_name=name)
        except Exception as error:  # network, auth, hub: all end the same way
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ExportError(f"pushing {name} to the hub dataset {repo} failed "
                              f"({type(error).__name__}: {reason}); the files in the "
                              "output folder are complete") from None
