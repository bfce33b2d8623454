"""The model card `elad export` writes as README.md next to the exported student: what it
was distilled from, on what task and data, for how much teacher money, its test
accuracy after each round, and the exact prompt format to use it with plain
transformers. Read from the run directory only (no torch).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

from elad.answers import ANSWER_CUE, prompt_text
from elad.asking import revises
from elad.budget import Prices, teacher_prices
from elad.config import RunConfig
from elad.lock import running
from elad.reading.card_metadata import front_matter
from elad.reading.report_summary import count, spending
from elad.rundir import RunDir
from elad.store import RunStore
from elad.tasks import dataset_answer_type, options_field, synthetic
from elad.types import RoundRecord


def teacher_text(config: RunConfig) -> str:
    teacher = config.teacher
    if teacher.kind == "openai":  # no URL: a card is published, a private host is not
        whose = " (OpenAI's)" if urlparse(teacher.base_url).hostname == "api.openai.com" \
            else ""
        return f"`{teacher.model}` behind an OpenAI-compatible API{whose}"
    noise = (f", with one wrong step in {teacher.noise:.0%} of its replies"
             if teacher.noise else "")
    if teacher.kind == "oracle":
        return ("elad's exact oracle teacher for its synthetic tasks (no LLM; its tokens "
                f"counted and priced as `{teacher.model}`{noise})")
    return ("the dataset's own human rationales, replayed by elad's reference teacher (no "
            f"LLM; its tokens counted and priced as `{teacher.model}`)")


def data_text(config: RunConfig, store: RunStore) -> str:
    """Where the questions came from and how many the run used (counted in the store:
    `task.pool_size=0` is a whole file)."""
    task = config.task
    if task.kind == "synthetic":
        source = f"elad's synthetic reasoning tasks ({', '.join(task.families)})"
    else:
        where = f"the hub dataset `{task.hub}`" if task.hub else (
            # the name alone: a card is made to be published, its machine's paths are not
            f"`{Path(task.path).name}`" if task.path else f"the local copy of {task.kind}")
        source = f"{task.kind} from {where}"
    annotated = store.test_set_totals()
    test = " held-out test questions" + (
        f" annotated by the teacher (${annotated['cost_usd']:.4f}, not in the teacher "
        "cost below)" if annotated["calls"] else "")
    return (f"{source}: an unlabeled pool of {store.count_examples('pool')} questions and "
            f"{store.count_examples('test')}{test} (seed {config.seed})")


def student_text(config: RunConfig, adapter_only: bool) -> str:
    student = config.student
    if student.kind == "tiny":
        start = ("first trained on the synthetic tasks' short chains at no teacher cost "
                 "(the warm curriculum), then on what the run bought"
                 if student.warmup == "curriculum" else "trained from scratch")
        shape = (f"{student.hidden_size} hidden, {count(student.layers, 'layer')}, "
                 f"{count(student.heads, 'head')}")
        return (f"a tiny Llama ({shape}) built from a config and {start}, with a byte-level "
                "BPE tokenizer trained on the task's text")
    tuning = (f"LoRA (rank {student.lora_rank}, "
              + ("the adapter alone" if adapter_only else "merged into the weights") + ")"
              if student.finetune == "lora" else "full fine-tuning")
    local = Path(student.model).expanduser().exists()  # its name: a machine's path
    model = (f"the local model `{Path(student.model).name}`" if local
             else f"`{student.model}`")
    return f"{model} fine-tuned with {tuning}"


def method_text(config: RunConfig) -> str:
    """What the teacher did with the questions sent to it, in the run's mode."""
    annotated_seed = not revises(config, 0)  # a seed round no student explained
    return {
        "annotate": "which wrote a whole explanation for each",
        "revise": "which revised the student's explanation from its first wrong step"
                  + (" (and wrote whole ones for the seed round)" if annotated_seed else ""),
    }.get(config.mode, "which, question by question, revised the student's explanation "
                       "from its first wrong step or wrote a whole one, whichever was "
                       "expected to cost less"
                       + (" (whole ones for the seed round)" if annotated_seed else ""))


def target_counts(store: RunStore, round: int) -> Counter:
    """The training targets up to `round` by what the teacher did for each: "annotate"
    (it wrote the explanation), "revise" (it revised the student's), and of those
    "confirmed" (it found no wrong step: the student's explanation as it was)."""
    made = {(c.round, c.example_id): c.op for c in store.teacher_calls()
            if c.ok and c.round <= round}
    counts: Counter = Counter()
    for target in store.targets(up_to_round=round):
        counts[made.get((target.round, target.example_id), "unknown")] += 1
        counts["no_wrong_step"] += target.no_wrong_step
    return counts


def targets_text(store: RunStore, round: int) -> str:
    """How many targets the teacher wrote and revised, as they were, and its calls."""
    counts = target_counts(store, round)
    calls = [c for c in store.teacher_calls() if c.round <= round]
    unusable = sum(not c.ok for c in calls)
    ops = Counter(c.op for c in calls)
    return (f"{count(counts['annotate'], 'annotation')} (the teacher wrote the whole "
            f"explanation) and {count(counts['revise'], 'revision')} (it revised the "
            "student's explanation from its first wrong step; "
            f"{counts['no_wrong_step']} of them kept as they were: no wrong step found), "
            f"from {len(calls)} teacher calls ("
            + ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
            + (f"; {unusable} not usable" if unusable else "") + ")")


def accuracy_table(records: list[RoundRecord], exported: int) -> list[str]:
    """A markdown table: per round, targets, teacher dollars, accuracy overall and per
    task (runs made before per-task accuracy was recorded have none)."""
    tasks = sorted({t for r in records for t in r.test_accuracy_by_task})
    rows = [["round", "targets", "teacher $", "test accuracy", *tasks],
            ["---:"] * (4 + len(tasks))]
    for r in records:
        rows.append([f"{r.round}" + (" (this model)" if r.round == exported else ""),
                     f"{r.n_labeled}", f"{r.cost_usd:.4f}", f"{r.test_accuracy:.3f}",
                     *(f"{r.test_accuracy_by_task[t]:.3f}" if t in r.test_accuracy_by_task
                       else "-" for t in tasks)])
    return ["| " + " | ".join(row) + " |" for row in rows]


def prompt_lines(config: RunConfig, bos_token: str | None,
                 adapter_only: bool = False) -> list[str]:
    example = "What is the largest of 4, 7, 2?"
    if config.student.kind == "hf" and config.student.chat_template:
        return [
            ("The student was trained and evaluated with each question as one user turn "
            "in the model's own chat template (`tokenizer.apply_chat_template(messages, "
            "add_generation_prompt=True)`), the explanation as the assistant's reply."),
            "", "```python", "from transformers import pipeline", "",
            'generate = pipeline("text-generation", model="PATH/TO/THIS/FOLDER")',
            f'messages = [{{"role": "user", "content": "{example}"}}]',
            'print(generate(messages)[0]["generated_text"][-1]["content"])', "```"]
    shown = (bos_token or "") + prompt_text("{question}")
    return [
        "The student was trained and evaluated on exactly this prompt"
        + (f" (the bos token `{bos_token}`, then the text):" if bos_token else ":"),
        "", "```text", shown + "```", "",
        (f'that is, in Python, `"{bos_token or ""}Q: " + question + "\\nA:\\n"`. '
        "It continues with its explanation, one step a line, and a last line "
        f'"{ANSWER_CUE} X.", then its end token. The tokenizer adds the bos token to the '
        "text, and its chat template renders a single user message as this prompt, so "
        "either of these gives the student's greedy answer "
        + (f"(give `do_sample=False, max_new_tokens={config.student.max_new_tokens}`: an "
           "adapter loads with its base model's generation config):" if adapter_only else
           "(the generation config holds greedy decoding and "
           f"`max_new_tokens={config.student.max_new_tokens}`):")),
        "", "```python", "from transformers import pipeline", "",
        'generate = pipeline("text-generation", model="PATH/TO/THIS/FOLDER")',
        f'messages = [{{"role": "user", "content": "{example}"}}]',
        'print(generate(messages)[0]["generated_text"][-1]["content"])',
        (f'print(generate("Q: {example}\\nA:\\n", return_full_text=False)'
        '[0]["generated_text"])'), "```"]


def not_stopped(run_dir: Path) -> str:
    """A run not stopped: going on as this card is written (an export of the student so
    far), or stopped before its rounds were done."""
    return "not yet, it was going on as this card was written" if running(run_dir) \
        else "not yet"


def reading_lines(config: RunConfig) -> list[str]:
    """How elad wrote a question with its options apart, and how it read and compared an
    answer: a user who rebuilt either otherwise measured another accuracy than the
    card's."""
    lines = []
    if field := options_field(config.task):
        lines += [(f"A question's options (the data's `{field}`) follow it on a line of "
                   "their own, each option's text without its own label and outer spaces, "
                   "as elad wrote them: `question + \"\\nAnswer choices: (A) 32400 (B) "
                   "28000\"`."), ""]
    gold = ("`elad.tasks.options.answer_letter(answer, elad.tasks.options.option_texts("
            f"options, \"{field}\"), \"{field}\")` gives the letter of the option a test "
            "answer names, which elad compared" if field else
            "`elad.answers.normalize_answer(answer, answer_type)` reads a test answer as "
            "elad compared it")
    return lines + [
        (f'elad read the answer from the first line that starts with "{ANSWER_CUE}", the '
         "text after it (a final period left out); lines after it are not read, and a "
         "student may repeat that line or go on writing. In Python, "
         "`elad.answers.parse_explanation(text, answer_type).answer` reads it as elad did "
         f"(answer_type {card_answer_types(config)}), and {gold}: compared so, they give "
         "the accuracy above.")]


def card_answer_types(config: RunConfig) -> str:
    """The answer type(s) a card names: the task's own, or each synthetic family's."""
    if config.task.kind != "synthetic":
        return f"`{dataset_answer_type(config.task)}`"
    kinds: dict[str, list[str]] = {}
    for family in config.task.families:
        kinds.setdefault(synthetic.ANSWER_TYPES[family], []).append(family)
    return ", ".join(f"`{kind}` ({', '.join(names)})" for kind, names in kinds.items())


def training_lines(config: RunConfig) -> list[str]:
    """How to train this model further on `elad export-data`'s `messages` rows with the
    loss on the explanations alone, as elad trained it."""
    if config.student.kind == "hf" and config.student.chat_template:
        split = ('dataset = dataset.map(lambda row: {"prompt": row["messages"][:1], '
                 '"completion": row["messages"][1:]}, remove_columns=["messages"])')
        return [("Its chat template is the base model's own. TRL's `SFTTrainer` with "
                 "`assistant_only_loss=True` needs `{% generation %}` markers around the "
                 "assistant's reply: where the template has none, TRL swaps in its own "
                 "training version of the templates it knows (Qwen, Llama, Gemma, Phi, "
                 "...) and refuses the others. Then give it the `messages` rows of `elad "
                 "export-data` as prompt and completion, and its completion-only loss "
                 "covers the reply alone:"), "", "```python", split, "```"]
    return [("Its chat template marks the explanation and the end token with "
             "`{% generation %}` ... `{% endgeneration %}`, so TRL's `SFTTrainer` with "
             "`SFTConfig(assistant_only_loss=True)` trains it on the `messages` rows of "
             "`elad export-data` with the loss on the explanation alone, as elad trained "
             "it (the `prompt_completion` rows give the same loss without it).")]


def unsettled_text(store: RunStore, last: RoundRecord) -> str:
    """What the run holds beyond its calls' bills: requests whose replies never came (a
    kill) and a batch not collected, at their worst case. The teacher may have billed
    them, so a card that left them out would understate what was paid."""
    spent = spending(store, last)
    held = spent["unconfirmed"] + spent["a batch not collected yet"]
    if held <= 0:
        return ""
    return (f" The run also holds ${held:.4f} for requests sent whose replies it never "
            "received (a stopped run, or a batch not collected), at their worst case: the "
            f"teacher may have billed them; the budget has paid ${spent['all']:.4f} in all.")


def discount_text(totals: dict, prices: Prices) -> str:
    """What the Batch API's discount took off the list prices, if anything (a run may
    send some rounds through it and others not)."""
    listed = prices.cost(totals["input_tokens"], totals["output_tokens"])
    if listed <= 0 or abs(totals["cost_usd"] - listed) <= 0.005 * listed:
        return ""
    share = totals["cost_usd"] / listed
    return f", less the Batch API's discount: {share:.0%} of that billed"


def model_card(run: RunDir, round: int, bos_token: str | None,
               adapter_only: bool = False) -> str:
    """The README.md of the round `round` student of `run`, exported."""
    config, store = run.config, run.store
    records = store.rounds()
    mine = next(r for r in records if r.round == round)
    totals = store.call_totals(round)
    prices = teacher_prices(dataclasses.replace(config.teacher, batch=False))  # list
    last = records[-1]
    return "\n".join([
        *front_matter(config, adapter_only), "",
        f"# {run.path.name}: a student distilled with elad", "",
        (f"This is {student_text(config, adapter_only)}, taught by explanation-guided "
         "active distillation (ELAD, Zhang et al. 2024) with elad: each round it "
         "explained pool questions, the ones it was least sure of went to the teacher, "
         f"{method_text(config)}, and it was trained on the results. This is the "
         f"student after round {round}."), "",
        "## Distilled from", "",
        f"- Teacher: {teacher_text(config)}.",
        (f"- Selection: strategy `{config.strategy}`, teacher mode `{config.mode}`; "
         f"{mine.n_labeled} training targets up to round {round}: "
         f"{targets_text(store, round)}."),
        f"- Task and data: {data_text(config, store)}.", "",
        "## Teacher cost", "",
        (f"${totals['cost_usd']:.4f} up to round {round}: {totals['calls']} calls, "
        f"{totals['input_tokens']} input and {totals['output_tokens']} output tokens at "
        f"${prices.input_per_mtok:.2f} / ${prices.output_per_mtok:.2f} per million"
        f"{discount_text(totals, prices)} (the run's budget: ${config.budget_usd})."
        f"{unsettled_text(store, last)}"), "",
        "## Test accuracy", "",
        (f"Greedy accuracy on the {store.count_examples('test')} test questions after "
         "each round (targets and teacher dollars cumulative). This model: "
        f"{mine.test_accuracy:.3f}. The run's last round: {last.round} (stopped: "
        f"{last.stop_reason or not_stopped(run.path)})."), "",
        *accuracy_table(records, round), "",
        "## Prompt format", "",
        *prompt_lines(config, bos_token, adapter_only), "",
        *reading_lines(config), "",
        "## Training it further", "",
        *training_lines(config), ""])
