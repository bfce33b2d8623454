"""What the oracle server answers: elad's rendered teacher prompts about synthetic
questions, answered exactly as chat completions (the JSON the prompts ask for, billed as
`budget.count_tokens` counts); any other question is `NotSynthetic`, which the server
refuses with HTTP 400. `write_questions` makes files of questions it can answer, to try
a run on as a user would."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from elad.answers import ANSWER_CUE
from elad.budget import count_tokens
from elad.tasks import synthetic
from elad.teacher.oracle import first_wrong_step

_STEP_LINE = re.compile(r"^\d+\. (.*)$")


class NotSynthetic(ValueError):
    """A prompt whose question the oracle cannot answer: not one of elad's synthetic
    questions."""


def oracle_answer(prompt: str) -> dict:
    """The JSON reply the oracle gives to one of elad's rendered prompts."""
    question = prompt.split("Question: ", 1)[-1].split("\n", 1)[0].strip()
    try:
        canonical, right = synthetic.solve(question)
    except ValueError:
        raise NotSynthetic("the oracle teacher answers only elad's synthetic questions "
                           "(python -m elad.fakes.oracle_server --write-questions DIR "
                           f"writes some), not {question[:60]!r}") from None
    if "Student's steps:" not in prompt:
        return {"steps": canonical, "answer": right}
    lines = [_STEP_LINE.match(line).group(1)
             for line in prompt.split("Student's steps:\n", 1)[1].splitlines()
             if _STEP_LINE.match(line)]
    *steps, answer_line = lines
    answer = answer_line.removeprefix(ANSWER_CUE).strip().rstrip(".")
    error = first_wrong_step(steps, None if answer == "(none)" else answer, canonical, right)
    if error is None:
        return {"first_error": None, "continuation": [], "answer": right}
    return {"first_error": error, "continuation": canonical[error - 1:], "answer": right}


def completion(request: dict, bad: bool) -> tuple[dict, tuple[int, int]]:
    """The chat completion answering `request` (prose instead of JSON if `bad`) and the
    (prompt, completion) tokens it bills."""
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    content = "I think the answer is 7." if bad else json.dumps(oracle_answer(prompt))
    limit = request.get("max_tokens") or request.get("max_completion_tokens") or 10**9
    finish = "stop"
    if count_tokens(content) > limit:  # cut at the limit, as a real model would stop
        content, finish = content[:limit], "length"
    usage = (sum(count_tokens(m["content"]) for m in request["messages"]),
             count_tokens(content))
    return {"id": "chatcmpl-oracle", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "oracle"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)}}, usage


def error_body(error: NotSynthetic) -> dict:
    return {"error": {"message": str(error), "type": "invalid_request_error"}}


def write_questions(folder: Path, pool_size: int = 2000, test_size: int = 200) -> None:
    """A pool (questions only) and a test set (with answers) of synthetic questions,
    as JSON lines, the files `elad init --data --test` takes: what a run against this
    server can be tried on."""
    data = synthetic.load(list(synthetic.FAMILIES), pool_size, test_size, seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, examples, answered in (("questions.jsonl", data.pool, False),
                                     ("test.jsonl", data.test, True)):
        lines = [json.dumps({"question": e.question}
                            | ({"answer": e.answer} if answered else {}))
                 for e in examples]
        (folder / name).write_text("".join(line + "\n" for line in lines))
    print(f"wrote {folder / 'questions.jsonl'} ({pool_size} questions) and "
          f"{folder / 'test.jsonl'} ({test_size}, with answers)", flush=True)
