"""A local OpenAI-compatible chat server that answers as the oracle teacher, with faults.

For tests, benchmarks and trying `teacher=openai` without an API: it reads elad's
prompts, answers them exactly (synthetic tasks only) with the JSON the prompts ask for,
and bills prompt and reply tokens as `budget.count_tokens` counts them; any other
question is refused with HTTP 400 and a message that says so, billed nothing
(oracle_answers.py; `--write-questions DIR` writes files of questions it answers). It
can wait a fixed `latency_s` per request and, for a `fault_rate` fraction of attempts,
fail in one of the ways real servers do: 429 with Retry-After, 500, a reply slower than
the client's timeout, a body cut off mid-way, or an HTML page instead of JSON. Whether
an attempt fails depends only on its body and how many times that body was sent before,
so a run sees the same faults whatever its concurrency (`fail_first` makes the first
attempts of every request fail, in the order of `faults`). `bad_replies` makes the first
replies to each prompt prose instead of JSON; `api_key` makes it refuse other keys,
quoting them back as real APIs do; `usage_reported` replaces the usage its chat replies
report. Every attempt is kept in `ledger`; every reply it sends is billed, and `bills`
is the billing log: (prompt hash, dollars) of each.

It also has OpenAI's Batch API (files and batches endpoints, the JSONL formats): a batch
runs when it is first polled `batch_delay_s` after its creation; with `batch_limit` it
runs only that many requests and expires with the rest unfinished. Faults and bad
replies apply to each request of a batch too (a fault is an error line: 429 or 500).
Batch requests are billed at half price (`billed_usd`), as OpenAI bills them; each
batch's requests are kept in `batch_lines`, how often it was polled in `polls`.

    python -m elad.fakes.oracle_server --port 8000 --latency 0.2 --fault-rate 0.2 --batch-delay 60
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from elad.fakes.oracle_answers import NotSynthetic, completion, error_body, write_questions

FAULTS = ("429", "500", "slow", "truncated", "nonjson")
BATCH_PRICE_FACTOR = 0.5  # what OpenAI bills a batch request, of the standard price


@dataclass
class Attempt:
    prompt_hash: str  # of the first user message: which teacher request this is
    outcome: str  # "ok", "bad" (a prose reply), "refused" (NotSynthetic) or one of FAULTS
    billed_tokens: tuple[int, int]  # (prompt, completion) the server counts as paid
    at: float = 0.0  # time.monotonic() when it arrived
    messages: int = 1  # how many messages the request had (re-asks have 3)
    batch: bool = False  # a request of a batch (billed at BATCH_PRICE_FACTOR)


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
    usage_reported: dict | None = None  # what chat replies say of usage instead of the truth
    batch_delay_s: float = 0.0
    batch_limit: int | None = None
    ledger: list[Attempt] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # file id -> content
    batches: dict[str, dict] = field(default_factory=dict)  # batch id -> Batch object
    batch_lines: dict[str, list[dict]] = field(default_factory=dict)  # its requests
    _seen: Counter = field(default_factory=Counter)  # attempts per request body
    _replied: Counter = field(default_factory=Counter)  # replies per prompt
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _created: dict[str, float] = field(default_factory=dict)  # batch id -> monotonic
    polls: Counter = field(default_factory=Counter)  # batch id -> times polled

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

    def bills(self, input_per_mtok: float = 2.5,
              output_per_mtok: float = 10.0) -> list[tuple[str, float]]:
        """(prompt hash, dollars at these standard prices; batch requests: half) of
        every reply sent so far, in the order billed."""
        with self._lock:
            return [(a.prompt_hash, (a.billed_tokens[0] * input_per_mtok + a.billed_tokens[1]
                     * output_per_mtok) * (BATCH_PRICE_FACTOR if a.batch else 1.0) / 1e6)
                    for a in self.ledger if a.billed_tokens != (0, 0)]

    def bad_reply(self, prompt: str) -> bool:
        """Whether this reply to `prompt` is to be prose (the first `bad_replies`)."""
        with self._lock:
            self._replied[prompt] += 1
            return self._replied[prompt] <= self.bad_replies

    def billed_usd(self, input_per_mtok: float, output_per_mtok: float) -> float:
        """What the server charged, at these standard prices (batch requests: half)."""
        return sum(usd for _, usd in self.bills(input_per_mtok, output_per_mtok))

    # --- the Batch API ----------------------------------------------------------------

    def add_file(self, content: bytes) -> str:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
        return file_id

    def create_batch(self, input_file_id: str, endpoint: str, metadata: dict | None) -> dict:
        lines = [json.loads(line) for line in self.files[input_file_id].splitlines()
                 if line.strip()]
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": endpoint,
                "input_file_id": input_file_id, "completion_window": "24h",
                "status": "in_progress", "created_at": int(time.time()),
                "metadata": metadata, "output_file_id": None, "error_file_id": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
            self.batch_lines[batch_id] = lines
            self._created[batch_id] = time.monotonic()
            return self.batches[batch_id]

    def poll_batch(self, batch_id: str) -> dict:
        """The batch, run first if it is due."""
        with self._lock:
            self.polls[batch_id] += 1
            batch = self.batches[batch_id]
            due = self._created[batch_id] + self.batch_delay_s
            if batch["status"] == "in_progress" and time.monotonic() >= due:
                self._run_batch(batch, self.batch_lines[batch_id])
            return batch

    def _run_batch(self, batch: dict, lines: list[dict]) -> None:
        output, errors = [], []
        for n, line in enumerate(lines):
            result = {"id": f"batch_req_{batch['id']}_{n}", "custom_id": line["custom_id"],
                      "response": None, "error": None}
            if self.batch_limit is not None and n >= self.batch_limit:
                result["error"] = {"code": "batch_expired", "message": "This request could "
                                   "not be executed before the completion window expired."}
                errors.append(result)
                continue
            request = line["body"]
            first = next(m["content"] for m in request["messages"] if m["role"] == "user")
            fault = self.fault_for(json.dumps(request, sort_keys=True).encode())
            attempt = Attempt(hashlib.sha256(first.encode()).hexdigest(), fault or "ok",
                              (0, 0), time.monotonic(), len(request["messages"]), batch=True)
            if fault:
                status = 429 if fault == "429" else 500
                result["response"] = {"status_code": status, "body": {
                    "error": {"message": "injected fault", "type": "server_error"}}}
                errors.append(result)
            else:
                bad = self.bad_reply(first)
                try:
                    reply, attempt.billed_tokens = completion(request, bad)
                except NotSynthetic as error:
                    attempt.outcome = "refused"
                    result["response"] = {"status_code": 400, "body": error_body(error)}
                    errors.append(result)
                    self.record(attempt)
                    continue
                attempt.outcome = "bad" if bad else "ok"
                result["response"] = {"status_code": 200, "body": reply}
                output.append(result)
            self.record(attempt)
        expired = self.batch_limit is not None and len(lines) > self.batch_limit
        batch.update(
            status="expired" if expired else "completed",
            output_file_id=self.add_file(_jsonl(output)) if output else None,
            error_file_id=self.add_file(_jsonl(errors)) if errors else None,
            request_counts={"total": len(lines), "completed": len(output),
                            "failed": len(errors)},
            **{"expired_at" if expired else "completed_at": int(time.time())})


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (a file upload)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"):
            part.get_payload(decode=True) for part in message.iter_parts()}


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

        def refused(self) -> bool:
            """Whether the API key is wrong (then a 401 was sent)."""
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if server.api_key is not None and key != server.api_key:
                self.send(401, json.dumps({"error": {
                    "message": f"Incorrect API key provided: {key}."}}).encode())
                return True
            return False

        def not_found(self) -> None:
            self.send(404, b'{"error": {"message": "not found"}}')

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.removeprefix("/v1").strip("/").split("/")
            if self.refused():
                return
            if path == ["batches"]:
                with server._lock:
                    data = sorted(server.batches.values(), key=lambda b: b["created_at"],
                                  reverse=True)
                self.send(200, json.dumps({"object": "list", "data": data,
                                           "has_more": False}).encode())
            elif len(path) == 2 and path[0] == "batches" and path[1] in server.batches:
                self.send(200, json.dumps(server.poll_batch(path[1])).encode())
            elif len(path) == 3 and path[0] == "files" and path[2] == "content" \
                    and path[1] in server.files:
                self.send(200, server.files[path[1]], "application/octet-stream")
            else:
                self.not_found()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:  # the client went away (killed, interrupted)
                self.close_connection = True
                return
            path = urlsplit(self.path).path.removeprefix("/v1")
            if self.refused():
                return
            if path == "/files":
                form = _form(self.headers["Content-Type"], body)
                file_id = server.add_file(form["file"])
                self.send(200, json.dumps({
                    "id": file_id, "object": "file", "bytes": len(form["file"]),
                    "created_at": int(time.time()), "filename": "batch.jsonl",
                    "purpose": form["purpose"].decode(), "status": "processed"}).encode())
                return
            if path == "/batches":
                request = json.loads(body)
                if request.get("input_file_id") not in server.files:
                    self.send(400, b'{"error": {"message": "no such input file"}}')
                    return
                self.send(200, json.dumps(server.create_batch(
                    request["input_file_id"], request["endpoint"],
                    request.get("metadata"))).encode())
                return
            if path != "/chat/completions":
                self.not_found()
                return
            request = json.loads(body)
            first = next(m["content"] for m in request["messages"] if m["role"] == "user")
            prompt_hash = hashlib.sha256(first.encode()).hexdigest()
            fault = server.fault_for(body)
            time.sleep(server.latency_s)
            attempt = Attempt(prompt_hash, fault or "ok", (0, 0), time.monotonic(),
                              len(request["messages"]))
            if fault and fault.isdigit():  # an HTTP error status: "429", "500", "413"...
                server.record(attempt)
                self.send(int(fault), b'{"error": {"message": "injected fault"}}',
                          headers={"Retry-After": server.retry_after} if fault == "429"
                          else None)
                return
            if fault == "nonjson":
                server.record(attempt)
                self.send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            bad = server.bad_reply(first)
            try:
                reply, attempt.billed_tokens = completion(request, bad)
            except NotSynthetic as error:
                attempt.outcome = "refused"
                server.record(attempt)
                self.send(400, json.dumps(error_body(error)).encode())
                return
            reply["usage"] = server.usage_reported or reply["usage"]
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
    parser.add_argument("--batch-delay", type=float, default=0.0,
                        help="seconds a batch runs before it completes")
    parser.add_argument("--write-questions", type=Path, metavar="DIR",
                        help="first write DIR/questions.jsonl and DIR/test.jsonl: "
                             "synthetic questions, the only ones this oracle answers")
    args = parser.parse_args()
    if args.write_questions:
        write_questions(args.write_questions)
    server = OracleServer(args.latency, args.fault_rate, batch_delay_s=args.batch_delay)
    with serve(server, args.port) as (_, url):
        print(f"oracle teacher at {url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
