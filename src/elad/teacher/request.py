"""One teacher request, made once: what is asked, the prompt rendered from the versioned
template, the cache key, and how the reply becomes a training target.

A request is built when a question is selected (its worst-case cost decides whether it
fits in the budget), and the same object is looked up in the cache and handed to the
teacher, which sends `prompt` as it is: the text sent is the text the key was made from.
Prompts are versioned text files in `prompts/`; the version line is part of every key,
so editing a prompt never reuses old replies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from elad.answers import ANSWER_CUE
from elad.types import Explanation, TeacherReply


@cache
def template(op: str) -> tuple[str, str]:
    """(version, body) of a prompt template."""
    text = resources.files("elad.teacher").joinpath(f"prompts/{op}.txt").read_text()
    first, _, body = text.partition("\n")
    return first.removeprefix("version:").strip(), body


def numbered_steps(steps: list[str], answer: str | None) -> str:
    """The student's steps numbered from 1; the answer line is the last step."""
    lines = [*steps, f"{ANSWER_CUE} {answer if answer is not None else '(none)'}."]
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def render(op: str, question: str, steps: list[str] | None = None,
           answer: str | None = None, hint: int | None = None,
           answer_form: str = "") -> str:
    """The full prompt text for one teacher request (`answer_form`: what it says of the
    answer's form, `answer_form_line`). Its placeholders are filled in one pass, so a
    question that holds "{steps}" is sent as written."""
    _, body = template(op)
    values = {
        "question": question,
        "steps": numbered_steps(steps or [], answer),
        "hint": f"\nHint: the student was least sure at step {hint}." if hint is not None
                else "",
        "answer_form": f"\n{answer_form}" if answer_form else "",
    }
    return re.sub(r"\{(question|steps|hint|answer_form)\}", lambda m: values[m[1]], body)


def labels_line(labels: tuple[str, ...]) -> str:
    """What a label task's prompt adds: the classes its answer must be one of."""
    return f'The "answer" must be one of: {quoted(labels)}.'


def quoted(labels: Sequence[str]) -> str:
    """Labels as a prompt and a re-ask name them: "negative", "positive"."""
    return ", ".join(json.dumps(x) for x in labels)


# what an answer of each type looks like, said by a re-ask and by a choice task's prompt
ANSWER_FORMS = {"number": "a number", "choice": "the option's letter, A to E",
                "yesno": '"yes" or "no"'}


def answer_form_line(answer_type: str, labels: Sequence[str]) -> str:
    """What a prompt says of the answer's form: a label task's classes, a choice task's
    letter; nothing for numbers (the prompt's example is one), yes/no (a reply in words,
    "Yes, because ...", is read as yes) or free text."""
    if labels := told(answer_type, labels):
        return labels_line(labels)
    # a model shown options tends to answer with the option's text ("Rs.336"), refused
    # and asked again, paid each time
    return f'The "answer" is {ANSWER_FORMS["choice"]}.' if answer_type == "choice" else ""


def told(answer_type: str, labels: Sequence[str]) -> tuple[str, ...]:
    """The labels a request tells the teacher: a label task's, none for other types."""
    return tuple(labels) if answer_type == "label" else ()


@dataclass(frozen=True)
class TeacherRequest:
    """Annotate a question, or revise the student's explanation of it (`steps` and
    `answer`, with the least stable step as `hint`). `identity` is everything about the
    teacher that determines a reply (its name; for an LLM, base URL, model, parameters)."""

    identity: tuple[tuple[str, object], ...]
    op: str
    question: str
    answer_type: str
    steps: tuple[str, ...] | None = None
    answer: str | None = None
    hint: int | None = None
    template: str = ""
    prompt: str = ""
    labels: tuple[str, ...] = ()  # a label task's classes (task.labels), told the teacher

    @classmethod
    def annotate(cls, identity: dict, question: str, answer_type: str,
                 labels: Sequence[str] = ()) -> TeacherRequest:
        return cls(tuple(identity.items()), "annotate", question, answer_type,
                   labels=told(answer_type, labels)).rendered()

    @classmethod
    def revise(cls, identity: dict, question: str, answer_type: str,
               explanation: Explanation, hint: int | None,
               labels: Sequence[str] = ()) -> TeacherRequest:
        return cls(tuple(identity.items()), "revise", question, answer_type,
                   tuple(explanation.steps), explanation.answer, hint,
                   labels=told(answer_type, labels)).rendered()

    def rendered(self) -> TeacherRequest:
        """This request with its template version and prompt filled in."""
        version, _ = template(self.op)
        steps = None if self.steps is None else list(self.steps)
        return dataclasses.replace(self, template=version, prompt=render(
            self.op, self.question, steps, self.answer, self.hint,
            answer_form_line(self.answer_type, self.labels)))

    def as_dict(self) -> dict:
        """The stored form (the run store's `request` column); its key order and
        values are what earlier versions stored, so their caches still hit (a request
        with no labels has no "labels" key)."""
        return {**dict(self.identity), "op": self.op, "template": self.template,
                "prompt": self.prompt, "question": self.question,
                "steps": None if self.steps is None else list(self.steps),
                "answer": self.answer, "hint": self.hint, "answer_type": self.answer_type,
                **({"labels": list(self.labels)} if self.labels else {})}

    @classmethod
    def from_dict(cls, stored: dict) -> TeacherRequest:
        """The request as `as_dict` stored it (every key that is not the request's own
        is the teacher's identity): the same request, so the same `key`."""
        own = ("op", "template", "prompt", "question", "steps", "answer", "hint",
               "answer_type", "labels")
        steps = stored["steps"]
        return cls(tuple((k, v) for k, v in stored.items() if k not in own), stored["op"],
                   stored["question"], stored["answer_type"],
                   None if steps is None else tuple(steps), stored["answer"],
                   stored["hint"], stored["template"], stored["prompt"],
                   tuple(stored.get("labels", ())))

    @property
    def key(self) -> str:
        """The cache key: a hash of everything that determines the reply."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    @property
    def n_steps(self) -> int:
        return len(self.steps or ())

    def target_steps(self, reply: TeacherReply) -> list[str]:
        """The training target's steps: an annotation's own; for a revision, the
        student's steps before the first wrong one, then the teacher's continuation
        (all of the student's steps when it found none wrong)."""
        if self.op == "annotate":
            return list(reply.steps)
        kept = self.n_steps if reply.first_error is None else reply.first_error - 1
        return [*(self.steps or ())[:kept], *reply.steps]
