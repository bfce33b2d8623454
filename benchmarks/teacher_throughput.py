"""Teacher client throughput: requests per second at concurrency 1 and 32.

Runs elad's OpenAI-compatible teacher (the real `openai` client, the cache, the budget)
against a local server in its own process (`python -m elad.fakes.oracle_server`) that takes a
fixed time per request, so the most any client can get is concurrency / latency requests
per second. Prints, for each
concurrency, the measured rate and its share of that maximum (goal: at least 90%), and
the speed-up of 32 over 1.

    .venv/bin/python benchmarks/teacher_throughput.py [--latency 1.0] [--requests 256]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from elad.budget import Budget, Prices
from elad.config import load_config
from elad.store import RunStore
from elad.teacher.gateway import TeacherGateway
from elad.teacher.openai import OpenAITeacher
from elad.teacher.request import TeacherRequest


def measure(url: str, concurrency: int, requests: int, offset: int) -> float:
    """Seconds to get `requests` new annotations at `concurrency`."""
    config = load_config(None, ["teacher=openai", f"teacher.base_url={url}",
                                "teacher.api_key_env=", "teacher.model=gpt-4o"])
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "run.sqlite")
        teacher = TeacherGateway(OpenAITeacher(config.teacher, ""), store,
                                Prices(2.5, 10.0), concurrency)
        question = "Start with {}. First, add 3. What is the result?"
        batch = [(TeacherRequest.annotate(teacher.teacher.identity(),
                                          question.format(offset + i), "number"), str(i))
                 for i in range(requests)]
        started = time.perf_counter()
        results = teacher.call_all(batch, 0, Budget(float("inf")))
        seconds = time.perf_counter() - started
        store.close()
    assert all(r.reply is not None and r.reply.ok for r in results)
    return seconds


@contextmanager
def server_process(latency_s: float):
    """The oracle server in a process of its own (no GIL shared with the client)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "elad.fakes.oracle_server", "--port",
                               str(port), "--latency", str(latency_s)],
                              stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (404 for this path): up
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request")
    parser.add_argument("--requests", type=int, default=256, help="at concurrency 32")
    args = parser.parse_args()
    rows = []
    with server_process(args.latency) as url:
        measure(url, 4, 8, offset=10**6)  # warm up: imports, first connections
        for concurrency, requests in ((1, max(8, args.requests // 16)),
                                      (32, args.requests)):
            seconds = measure(url, concurrency, requests, offset=concurrency * 10**4)
            rate, most = requests / seconds, concurrency / args.latency
            rows.append((concurrency, requests, seconds, rate, most))
    print(f"server latency {args.latency * 1000:.0f} ms per request")
    print(f"{'concurrency':>11}  {'requests':>8}  {'seconds':>7}  {'req/s':>7}  "
          f"{'max req/s':>9}  {'of max':>6}")
    for concurrency, requests, seconds, rate, most in rows:
        print(f"{concurrency:>11}  {requests:>8}  {seconds:>7.2f}  {rate:>7.1f}  "
              f"{most:>9.1f}  {rate / most:>6.1%}")
    print(f"speed-up of concurrency 32 over 1: {rows[1][3] / rows[0][3]:.1f}x")


if __name__ == "__main__":
    main()
