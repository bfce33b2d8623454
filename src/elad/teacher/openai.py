"""A teacher behind any OpenAI-compatible chat API: OpenAI, vLLM, llama.cpp server,
Ollama, a LiteLLM proxy. Uses the official `openai` client.

Each request is one user message (the rendered prompt) asking for strict JSON, with the
server's structured output where it has it (`structured_output`). A reply is checked
(teacher/reply.py); an unusable one is asked again, with the reason, up to `max_invalid`
times and then recorded as failed, so its question is skipped. Rate limits (429), server
errors (5xx), timeouts and broken bodies are retried with exponential backoff, honouring
Retry-After, up to `max_retries` times. These rules are teacher/retry.py's, shared with
the Batch API (teacher/batch.py).

Money: every attempt the server may have billed counts. A reply's own usage is charged;
an attempt whose usage is unknown (timed out, body cut off or unreadable) is charged its
worst case; errors the server returns before generating (429, 5xx, refused connections)
cost nothing. Before every retry the attempt's worst case is reserved from the budget
(budget.Allowance). The worst-case prompt size is its UTF-8 byte count plus a margin for
the chat template: no byte-level tokenizer produces more tokens than bytes.

The API key is read from the environment variable the config names, kept only in the
client, and scrubbed from every error message that is logged or stored.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import time

import openai
from openai.types.chat import ChatCompletion

from elad.config import ConfigError, TeacherConfig
from elad.teacher.protocol import StoppedInFlight, TeacherUnavailable
from elad.teacher.reply import SCHEMAS, InvalidReply, reply_from_text
from elad.teacher.request import TeacherRequest
from elad.teacher.retry import (
    ACCEPT,
    INVALID,
    REASK,
    REFUSED,
    REPLY,
    RETRY,
    TRANSIENT,
    Outcome,
    Tries,
    is_transient,
    reask,
)
from elad.types import TeacherReply

log = logging.getLogger("elad")

MESSAGE_OVERHEAD_TOKENS = 16  # role markers and the like, per message, plus one more
MAX_BACKOFF_S = 30.0


def api_key(config: TeacherConfig) -> str:
    """The key's value from the environment ("" when `api_key_env` is empty)."""
    if not config.api_key_env:
        return ""
    value = os.environ.get(config.api_key_env)
    if not value:
        raise ConfigError(f"teacher.api_key_env: the environment variable "
                          f"{config.api_key_env} is "
                          f"{'empty' if value == '' else 'not set'} (set it, or set "
                          "teacher.api_key_env= for a server that needs no key)")
    return value


def retry_after_s(headers) -> float | None:
    """Seconds the server asks us to wait (Retry-After or retry-after-ms), if any."""
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)  # an HTTP date
        return max(0.0, when.timestamp() - time.time()) if when else None


def worst_input_tokens(messages: list[dict]) -> int:
    """The most input tokens a request of these chat messages can be billed."""
    return sum(len(m["content"].encode()) for m in messages) + \
        MESSAGE_OVERHEAD_TOKENS * (len(messages) + 1)


def read_reply(request: TeacherRequest, text: str, finish: str | None,
               limit: int) -> TeacherReply:
    """The usable reply in a completion's text (token counts left to the caller), or
    InvalidReply with the reason (which the model is told, when asked again, and the
    user, when it is given up on)."""
    if finish == "length":
        raise InvalidReply(f"the reply was cut off at the output token limit "
                           f"(teacher.max_output_tokens={limit}): a shorter reply, or a "
                           "higher limit")
    return reply_from_text(request.op, text, request.answer_type, request.n_steps,
                           request.answer, request.labels)


class OpenAITeacher:
    name = "openai"

    def __init__(self, config: TeacherConfig, key: str):
        self.config = config
        self.max_output_tokens = config.max_output_tokens
        self._key = key
        self._client: openai.AsyncOpenAI | None = None
        self._rng = random.Random(0)  # backoff jitter
        self._timed_out = False  # said once a run: a timeout is charged its worst case

    def identity(self) -> dict:
        c = self.config
        return {"teacher": self.name, "base_url": c.base_url.rstrip("/"), "model": c.model,
                "temperature": c.temperature, "max_output_tokens": c.max_output_tokens,
                "structured_output": c.structured_output,
                "token_limit_param": c.token_limit_param}

    def worst_case_input_tokens(self, prompt: str) -> int:
        return worst_input_tokens([{"role": "user", "content": prompt}])

    def client(self) -> openai.AsyncOpenAI:
        """The client of this batch of requests (its connection pool belongs to the
        batch's event loop; `aclose` ends it)."""
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.config.base_url, api_key=self._key or "no-key",
                timeout=self.config.timeout_s, max_retries=0)  # retries are ours
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def backoff_s(self, failures: int) -> float:
        """Seconds to wait after the n-th failure in a row: exponential, jittered."""
        return min(MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1)) * self._rng.uniform(0.5, 1.0)

    # --- one request, attempt by attempt ----------------------------------------------

    def request_options(self, op: str) -> dict:
        c = self.config
        options = {"model": c.model, "temperature": c.temperature,
                   c.token_limit_param: c.max_output_tokens}
        if c.structured_output == "json_schema":
            options["response_format"] = {"type": "json_schema", "json_schema": {
                "name": op, "schema": SCHEMAS[op], "strict": True}}
        elif c.structured_output == "json_object_schema":  # llama.cpp's server form
            options["response_format"] = {"type": "json_object", "schema": SCHEMAS[op]}
        elif c.structured_output == "json_object":
            options["response_format"] = {"type": "json_object"}
        return options

    async def complete(self, request: TeacherRequest, allowance) -> TeacherReply:
        """Send the request's prompt until a usable reply, or until retries or re-asks
        run out (a failed reply, ok=False, with the reason and every billed token
        counted); what to do after each attempt is retry.Tries's to say. Cancelled (a
        second Ctrl-C) after an unusable reply, in flight or waiting to retry, it raises
        StoppedInFlight with that reply, paid for; before any, a plain cancellation."""
        c = self.config
        tries = Tries(c.max_retries, c.max_invalid, self.backoff_s)
        try:
            return await self._ask(request, allowance, tries)
        except asyncio.CancelledError as cancel:
            if not tries.invalid:  # no reply received: as after a kill
                raise
            raise StoppedInFlight(tries.stopped(request.op)) from cancel

    async def _ask(self, request: TeacherRequest, allowance, tries: Tries) -> TeacherReply:
        c = self.config
        messages = [{"role": "user", "content": request.prompt}]
        while True:
            worst = (worst_input_tokens(messages), c.max_output_tokens)
            try:
                fits = await allowance.ensure(*worst)
            except asyncio.CancelledError:  # the run stops before this attempt
                if not tries.invalid:  # no reply received: nothing to keep
                    raise
                return tries.stopped(request.op)
            if not fits:
                return tries.failed(request.op, "budget spent before the next attempt "
                                                f"({tries.reason})")
            try:
                outcome, text, reply = await self.attempt(request, messages, worst)
            except asyncio.CancelledError:  # in flight: it may be billed, at worst this
                tries.after(Outcome(TRANSIENT, worst, "stopped in flight", worst_case=True))
                raise
            if outcome.usage is not None:
                allowance.use(*outcome.usage)
            decision = tries.after(outcome)
            if decision.action == ACCEPT:
                return tries.accepted(reply)
            if decision.action == REASK:
                messages = reask(messages, text, decision.why)
            elif decision.action == RETRY:
                log.debug("teacher %s: %s; retrying in %.1fs", request.op, decision.why,
                          decision.wait_s)
                await asyncio.sleep(decision.wait_s)
            elif not tries.reached:
                raise TeacherUnavailable(f"cannot reach the teacher at {c.base_url}: "
                                         f"{tries.reason} ({tries.failures} tries, none "
                                         "connected, so none was paid); check "
                                         "teacher.base_url and that the server is up, "
                                         "then rerun")
            else:
                return tries.failed(request.op, decision.why)

    async def attempt(self, request: TeacherRequest, messages: list[dict],
                      worst: tuple[int, int]) -> tuple[Outcome, str, TeacherReply | None]:
        """Send `messages` once: what came of it, the reply's text ("" if none) and the
        usable reply (if any). An attempt that may have reached the model but whose
        usage is unknown is billed `worst`; errors returned before generating, nothing."""
        c = self.config
        try:
            completion = await self.create(messages, self.request_options(request.op))
            text, usage, finish = self.reply_text(completion)
        except (openai.AuthenticationError, openai.PermissionDeniedError,
                openai.NotFoundError) as error:
            raise TeacherUnavailable(
                f"teacher at {c.base_url} (model {c.model}): "
                f"{self.scrub(str(error))}") from None
        except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
            return Outcome(REFUSED, reason=self.scrub(str(error))), "", None
        except openai.APIStatusError as error:  # not billed; sent again if transient
            said = re.sub(r"^Error code: \d+ - ", "", str(error.message))  # the status
            reason = f"HTTP {error.status_code}: {self.scrub(said)[:300]}"
            if c.structured_output != "none" and re.search(
                    "json_schema|response_format", str(error.message)):
                reason += (f" (the server may not take teacher.structured_output="
                           f"{c.structured_output}: try json_object_schema, llama.cpp's "
                           "form, or json_object)")
            if not is_transient(error.status_code):
                return Outcome(REFUSED, reason=reason), "", None
            return Outcome(TRANSIENT, reason=reason,
                           retry_after=retry_after_s(error.response.headers)), "", None
        except openai.APIConnectionError as error:
            cause = type(error.__cause__).__name__
            reason = "timed out" if isinstance(error, openai.APITimeoutError) else \
                f"connection failed ({cause or 'unknown'})"
            if cause in ("ConnectError", "ConnectTimeout"):  # never sent: not billed
                return Outcome(TRANSIENT, reason=reason, reached=False), "", None
            if reason == "timed out" and not self._timed_out:
                self._timed_out = True
                log.warning("teacher: a request timed out after teacher.timeout_s=%gs; it "
                            "is charged its worst case and sent again. A server that "
                            "answers one request at a time (llama.cpp's) needs "
                            "teacher.concurrency=1 or a longer teacher.timeout_s",
                            c.timeout_s)
            return Outcome(TRANSIENT, worst, reason,  # it may have been billed
                           worst_case=True), "", None
        except (BrokenBody, ValueError) as error:  # ValueError: a body that is not JSON
            return Outcome(TRANSIENT, worst, str(error), worst_case=True), "", None
        unreported = usage is None
        usage = usage or worst
        if usage[1] > worst[1]:  # recorded as billed, but the budget's cap assumed less
            log.warning("teacher: the server reports %d output tokens for a request limited "
                        "to %d; recorded as reported", usage[1], worst[1])
        try:
            reply = read_reply(request, text, finish, c.max_output_tokens)
        except InvalidReply as error:
            return Outcome(INVALID, usage, str(error), worst_case=unreported), text, None
        return Outcome(REPLY, usage, worst_case=unreported), text, reply

    async def create(self, messages: list[dict], options: dict) -> ChatCompletion:
        return await self.client().chat.completions.create(messages=messages, **options)

    @staticmethod
    def reply_text(completion) -> tuple[str, tuple[int, int] | None, str | None]:
        """(text, (prompt, completion) tokens or None, finish reason) of a completion."""
        if not isinstance(completion, ChatCompletion) or not completion.choices:
            raise BrokenBody("the server's reply is not a chat completion")
        choice = completion.choices[0]
        return choice.message.content or "", usage_tokens(completion.usage), \
            choice.finish_reason


def usage_tokens(usage) -> tuple[int, int] | None:
    """(prompt, completion) tokens of a reply's usage; None when it is missing or is not
    two counts (the client does not check the server's JSON), so that the attempt is
    billed its worst case."""
    if usage is None:
        return None
    tokens = (usage.prompt_tokens, usage.completion_tokens)
    if all(type(n) is int and n >= 0 for n in tokens):
        return tokens
    log.warning("teacher: the server reported usage %r, not token counts; billed as the "
                "request's worst case", tokens)
    return None


class BrokenBody(Exception):
    """A 200 reply whose body is not a readable chat completion."""
