"""How a stream ends when it does not end well: the backend dies or stops before `[DONE]`,
or the client hangs up. The client learns it from a final error event, and every log line
(api and inference) says how it ended, valid against the schemas."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from logging_lib.schemas import validate_file
from tests.conftest import REPO_ROOT
from tests.unit.gateway.conftest import by_event, read_events

STREAM = {"model": "stub-model", "prompt": "once upon", "max_tokens": 200, "stream": True}


def _sse(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def _all_valid(log_dir: Path) -> None:
    files = [*(log_dir / "api").glob("*.log"), *(log_dir / "inference").glob("*.log")]
    assert files
    for f in files:
        report = validate_file(f)
        assert report.ok, (f.name, report.errors)


@pytest.fixture
def stub_process(free_port: int) -> Iterator[subprocess.Popen]:
    """The stub backend as its own process, so the test can SIGKILL it mid-stream."""
    proc = subprocess.Popen([sys.executable, "-m", "testkit.stub_vllm", "--port", str(free_port)],
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and b"listening" in proc.stdout.readline()
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_backend_killed_mid_stream_ends_in_an_error_event_and_an_error_line(
        stub_process: subprocess.Popen, make_gateway, log_dir: Path, free_port: int) -> None:
    gw = make_gateway(f"http://127.0.0.1:{free_port}")
    received = []
    with httpx.Client(timeout=10) as client, client.stream(
            "POST", gw.base_url + "/v1/completions", json={**STREAM, "stub": {"itl_ms": 50}},
            headers={"x-request-id": "killed-1"}) as r:
        assert r.status_code == 200
        for i, piece in enumerate(r.iter_raw()):
            received.append(piece)
            if i == 2:
                os.kill(stub_process.pid, signal.SIGKILL)
    msgs = _sse(b"".join(received).decode())
    assert "[DONE]" not in msgs
    last = json.loads(msgs[-1])
    assert set(last["error"]) == {"message", "type", "param", "code"} and last["error"]["code"] == 502
    assert all("choices" in json.loads(m) for m in msgs[:-1]) and len(msgs) >= 4
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert not by_event(inf, "inference_response")
    err = by_event(inf, "inference_error")[0]
    assert err["request_id"] == "killed-1" and err["status"] == 502 and "closed" in err["error"]
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 1)
    resp = by_event(api, "api_response")[0]
    assert resp["status_code"] == 502 and resp["level"] == "ERROR"   # not the 200 the client got first
    _all_valid(log_dir)


def _chunked_backend(events: list[bytes]):
    """An HTTP/1.1 server that streams `events` and then ends the body cleanly (the chunked
    terminator), as vLLM does after reporting an error, or as a server that gives up might."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for event in events:
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()
    return handle


TOKEN = (b'data: {"id":"x","object":"text_completion","model":"stub-model",'
         b'"choices":[{"index":0,"text":"tok "}]}\n\n')


def _serve(events: list[bytes]) -> Iterator[str]:
    import threading

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(_chunked_backend(events), "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def no_done_backend() -> Iterator[str]:
    yield from _serve([TOKEN, TOKEN])


@pytest.fixture
def error_event_backend() -> Iterator[str]:
    """vLLM's way of failing mid-stream: an error event, then [DONE]."""
    error = b'data: {"error":{"message":"engine dead","type":"InternalServerError","param":null,"code":500}}\n\n'
    yield from _serve([TOKEN, error, b"data: [DONE]\n\n"])


def test_an_error_event_from_vllm_is_an_error_not_a_success(error_event_backend: str, make_gateway,
                                                           log_dir: Path) -> None:
    gw = make_gateway(error_event_backend)
    r = httpx.post(gw.base_url + "/v1/completions", json=STREAM, headers={"x-request-id": "err-event"}, timeout=10)
    msgs = _sse(r.text)
    assert json.loads(msgs[1])["error"]["message"] == "engine dead" and msgs[-1] == "[DONE]"  # passed on as sent
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert not by_event(inf, "inference_response")
    err = by_event(inf, "inference_error")[0]
    assert err["status"] == 500 and "engine dead" in err["error"]
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 1)
    assert by_event(api, "api_response")[0]["status_code"] == 500
    _all_valid(log_dir)


def test_stream_that_stops_before_done_is_an_upstream_failure(no_done_backend: str, make_gateway,
                                                              log_dir: Path) -> None:
    gw = make_gateway(no_done_backend)
    r = httpx.post(gw.base_url + "/v1/completions", json=STREAM, headers={"x-request-id": "no-done"}, timeout=10)
    msgs = _sse(r.text)
    assert r.status_code == 200 and len(msgs) == 3
    assert json.loads(msgs[-1])["error"]["code"] == "upstream_closed"
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert not by_event(inf, "inference_response")
    assert by_event(inf, "inference_error")[0]["status"] == 502
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 1)
    assert by_event(api, "api_response")[0]["status_code"] == 502
    _all_valid(log_dir)


def test_client_disconnect_mid_stream_is_499_in_both_logs(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    for i in range(3):
        with httpx.Client() as client, client.stream(
                "POST", gw.base_url + "/v1/completions", headers={"x-request-id": f"gone-{i}"},
                json={**STREAM, "stub": {"ttft_ms": 0, "itl_ms": 50}}) as r:
            assert b"tok" in next(r.iter_raw())
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 3)
    assert sorted((e["request_id"], e["status"]) for e in by_event(inf, "inference_error")) == [
        (f"gone-{i}", 499) for i in range(3)]
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 3)
    assert sorted((e["request_id"], e["status_code"]) for e in by_event(api, "api_response")) == [
        (f"gone-{i}", 499) for i in range(3)]
    deadline = time.monotonic() + 3
    while stub.stats.streams_cancelled < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stub.stats.streams_cancelled == 3
    _all_valid(log_dir)
