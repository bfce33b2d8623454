"""A local OpenAI-compatible chat server that answers as the oracle teacher, with faults.

For tests, benchmarks and trying `teacher=openai` without an API: it reads elad's
prompts, answers them exactly (synthetic tasks only) with the JSON the prompts ask for,
and bills prompt and reply tokens as `budget.count_tokens` counts them. It can wait a
fixed `latency_s` per request and, for a `fault_rate` fraction of attempts, fail in one
of the ways real servers do: 429 with Retry-After, 500, a reply slower than the client's
timeout, a body cut off mid-way, or an HTML page instead of JSON. Whether an attempt
fails depends only on its body and how many times that body was sent before, so a run
sees the same faults whatever its concurrency (`fail_first` makes the first attempts of
every request fail, in the order of `faults`). `bad_replies` makes the first replies to
each prompt prose instead of JSON; `api_key` makes it refuse other keys, quoting them
back as real APIs do. Every attempt is kept in `ledger`.

    python -m elad.oracle_server --port 8000 --latency 0.2 --fault-rate 0.2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from elad.answers import ANSWER_CUE
from elad.budget import count_tokens
from elad.tasks import synthetic
from elad.teacher.oracle import first_wrong_step

FAULTS = ("429", "500", "slow", "truncated", "nonjson")
_STEP_LINE = re.compile(r"^\d+\. (.*)$")


def oracle_answer(prompt: str) -> dict:
    """The JSON reply the oracle gives to one of elad's rendered prompts."""
    question = prompt.split("Question: ", 1)[1].split("\n", 1)[0].strip()
    canonical, right = synthetic.solve(question)
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


@dataclass
class Attempt:
    prompt_hash: str  # of the first user message: which teacher request this is
    outcome: str  # "ok", "bad" (a prose reply) or one of FAULTS
    billed_tokens: tuple[int, int]  # (prompt, completion) the server counts as paid
    at: float = 0.0  # time.monotonic() when it arrived
    messages: int = 1  # how many messages the request had (re-asks have 3)


@dataclass
class OracleServer:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    slow_s: float = 2.0
    retry_after: str = "1"
    fail_first: int = 0
    bad_replies: int = 0
    api_key: str | None = None
    ledger: list[Attempt] = field(default_factory=list)
    _seen: Counter = field(default_factory=Counter)  # attempts per request body
    _replied: Counter = field(default_factory=Counter)  # replies per prompt
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_for(self, body: bytes) -> str | None:
        with self._lock:
            nth = self._seen[body]
            self._seen[body] += 1
        if nth < self.fail_first:
            return self.faults[nth % len(self.faults)]
        draw = hashlib.sha256(body + str(nth).encode()).digest()
        if int.from_bytes(draw[:8], "big") / 2**64 >= self.fault_rate:
            return None
        return self.faults[draw[8] % len(self.faults)]

    def record(self, attempt: Attempt) -> None:
        with self._lock:
            self.ledger.append(attempt)

    def billed_usd(self, input_per_mtok: float, output_per_mtok: float) -> float:
        return sum(a.billed_tokens[0] * input_per_mtok + a.billed_tokens[1] * output_per_mtok
                   for a in self.ledger) / 1e6


def _completion(request: dict, bad: bool) -> tuple[dict, tuple[int, int]]:
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


def _handler(server: OracleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers

        def log_message(self, *args) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()  # headers and body go out at once, as real servers send them
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(self, status: int, body: bytes, content_type: str = "application/json",
                 headers: dict | None = None, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:  # the client went away (killed, interrupted)
                self.close_connection = True
                return
            if not self.path.endswith("/chat/completions"):
                self.send(404, b'{"error": {"message": "not found"}}')
                return
            request = json.loads(body)
            first = next(m["content"] for m in request["messages"] if m["role"] == "user")
            prompt_hash = hashlib.sha256(first.encode()).hexdigest()
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if server.api_key is not None and key != server.api_key:
                self.send(401, json.dumps({"error": {
                    "message": f"Incorrect API key provided: {key}."}}).encode())
                return
            fault = server.fault_for(body)
            time.sleep(server.latency_s)
            attempt = Attempt(prompt_hash, fault or "ok", (0, 0), time.monotonic(),
                              len(request["messages"]))
            if fault in ("429", "500"):
                server.record(attempt)
                self.send(int(fault), b'{"error": {"message": "injected fault"}}',
                          headers={"Retry-After": server.retry_after} if fault == "429"
                          else None)
                return
            if fault == "nonjson":
                server.record(attempt)
                self.send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            with server._lock:
                bad = server._replied[first] < server.bad_replies
                server._replied[first] += 1
            reply, attempt.billed_tokens = _completion(request, bad)
            if bad and fault is None:
                attempt.outcome = "bad"
            data = json.dumps(reply).encode()
            server.record(attempt)
            if fault == "slow":
                time.sleep(server.slow_s)
            if fault == "truncated":
                self.send(200, data[:len(data) // 2], length=len(data))
                self.close_connection = True
                return
            try:
                self.send(200, data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up
                pass

    return Handler


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops bursts of connections (1 s SYN retry)
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away
            super().handle_error(request, client_address)


@contextmanager
def serve(server: OracleServer | None = None, port: int = 0):
    """Run `server` on 127.0.0.1 (a free port by default) for the `with` block; yields
    (server, base_url)."""
    server = server or OracleServer()
    httpd = _HTTPServer(("127.0.0.1", port), _handler(server))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    with serve(OracleServer(args.latency, args.fault_rate), args.port) as (_, url):
        print(f"oracle teacher at {url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
