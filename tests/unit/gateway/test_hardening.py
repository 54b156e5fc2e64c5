"""What a hostile client can send: huge request lines and headers (431, bounded memory), long
paths (bounded in the logs, so they cost the logger nothing and never stall other requests),
unknown routes and methods (OpenAI-shaped 404/405), and fields of the wrong type (400)."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from logging_lib.schemas import validate_file
from tests.conftest import REPO_ROOT
from tests.unit.gateway.conftest import by_event, read_events

CHAT = {"model": "stub-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}
# The shape that made the old `key=value` redaction pattern backtrack quadratically (11 s at 12 KB).
SLOW_PATH = "/" + "a-" * 8000 + "token"


def _openai_error(r: httpx.Response) -> dict:
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, r.text
    return err


@pytest.fixture
def gateway_process(stub, free_port: int, tmp_path: Path) -> Iterator[tuple[str, psutil.Process, Path]]:
    """The gateway as `mlops gateway` runs it: its own process, uvicorn on httptools."""
    def start(*extra: str) -> tuple[str, psutil.Process, Path]:
        log_dir = tmp_path / "logs"
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "gateway", "--backend-url", stub.base_url,
                                 "--port", str(free_port), "--log-dir", str(log_dir), *extra],
                                cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        url = f"http://127.0.0.1:{free_port}"
        for _ in range(400):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    return url, psutil.Process(proc.pid), log_dir
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    started: list[subprocess.Popen] = []
    yield start  # type: ignore[misc]
    for proc in started:
        proc.terminate()
        proc.wait(10)


def _raw(port: int, head: bytes, filler: int = 0) -> bytes:
    """Send `head` (then `filler` more header bytes, as a client would stream them) on a raw
    socket; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head)
            chunk = b"x" * 65536
            for _ in range(filler // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before we were done: read its answer
        out = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            out += data
        return out


def test_oversized_request_line_and_headers_get_431_from_the_real_server(gateway_process) -> None:
    url, proc, log_dir = gateway_process()
    port = int(url.rsplit(":", 1)[1])
    for _ in range(3):   # warm up, so the RSS baseline holds what serving needs anyway
        httpx.get(url + "/health")
    rss_before = proc.memory_info().rss
    # a 32 MB header, sent as a client streams it: refused once past the limit, memory stays flat
    answer = _raw(port, b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ", filler=32 << 20)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code":"request_header_fields_too_large"' in answer
    grown_mib = (proc.memory_info().rss - rss_before) / 2**20
    assert grown_mib < 16, f"the gateway grew by {grown_mib:.0f} MiB on a refused 32 MB header"
    # many small headers adding up past 16 KiB, all in one read
    many = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    assert _raw(port, b"GET /health HTTP/1.1\r\nhost: x\r\n" + many).startswith(b"HTTP/1.1 431 ")
    # a request line beyond 8 KiB
    assert _raw(port, b"GET /" + b"p" * 9000 + b" HTTP/1.1\r\nhost: x").startswith(b"HTTP/1.1 431 ")
    # just under the limits is served as usual
    r = httpx.get(url + "/health", headers={"x-fine": "v" * 12000})
    assert r.status_code == 200
    api = read_events(log_dir, "api",
                      lambda ls: sum(e["status_code"] == 431 for e in by_event(ls, "api_response")) == 3)
    refused = [e for e in by_event(api, "api_response") if e["status_code"] == 431]
    assert len(refused) == 3 and all(len(e.get("path", "")) < 600 for e in refused)
    assert validate_file(next((log_dir / "api").glob("*.log"))).ok


def test_a_long_path_is_bounded_in_the_logs_and_never_stalls_the_gateway(gateway_process) -> None:
    """GET /<16 KB> of the adversarial shape answers as fast as a short path, and /health
    answers while it is served (it took 11 s and stalled /health when the gateway redacted
    the whole path). Ratios within one run; generous margins for a loaded 2-core machine."""
    url, _, log_dir = gateway_process("--max-request-line-bytes", "65536")
    with httpx.Client(base_url=url, timeout=60) as client:
        def timed(path: str) -> float:
            t = time.perf_counter()
            assert client.get(path).status_code == 404
            return time.perf_counter() - t

        normal = statistics.median(timed("/nowhere-" + "a-" * 20 + "token") for _ in range(7))
        slow = min(timed(SLOW_PATH) for _ in range(3))
        assert slow < 50 * normal, f"long path {slow * 1000:.1f} ms vs short {normal * 1000:.1f} ms"

        health_s: list[float] = []

        def probe() -> None:
            time.sleep(0.01)
            t = time.perf_counter()
            assert httpx.get(url + "/health", timeout=60).status_code == 200
            health_s.append(time.perf_counter() - t)

        probes = [threading.Thread(target=probe) for _ in range(3)]
        for th in probes:
            th.start()
        for _ in range(3):
            client.get(SLOW_PATH)
        for th in probes:
            th.join()
        health_normal = statistics.median(timed_health(url) for _ in range(5))
        assert max(health_s) < 50 * health_normal + 10 * normal, (health_s, health_normal)
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) >= 20)
    long_lines = [e for e in api if e["path"].startswith("/a-a-")]
    assert long_lines and all(len(e["path"]) < 600 and e["path"].endswith("more chars]") for e in long_lines)


def timed_health(url: str) -> float:
    t = time.perf_counter()
    httpx.get(url + "/health")
    return time.perf_counter() - t


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nowhere", 404), ("POST", "/v1/embeddings", 404), ("GET", "/v1/models/", 404),
    ("GET", "/v1/chat/completions", 405), ("DELETE", "/v1/models", 405), ("POST", "/health", 405),
])
def test_unknown_routes_and_wrong_methods_get_openai_errors(stub, make_gateway, method: str, path: str,
                                                            status: int) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.request(method, gw.base_url + path)
    assert r.status_code == status and "detail" not in r.json()
    err = _openai_error(r)
    assert err["type"] == "invalid_request_error"
    if status == 405:
        assert r.headers["allow"] in ("GET", "POST") and r.headers["allow"] in err["message"]
    assert stub.stats.requests == 0


@pytest.mark.parametrize(("patch", "param"), [
    ({"stream": "false"}, "stream"), ({"stream": 1}, "stream"), ({"model": 7}, "model"),
    ({"model": ""}, "model"), ({"model": "m" * 300}, "model"), ({"stream": True, "stream_options": "yes"},
                                                                 "stream_options"),
    ({"stream": True, "stream_options": {"include_usage": "true"}}, "stream_options.include_usage"),
])
def test_fields_of_the_wrong_type_are_400(stub, make_gateway, log_dir: Path, patch: dict, param: str) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, **patch})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json", r.text
    err = _openai_error(r)
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert stub.stats.completions == 0
    assert len(err["message"]) < 200


def test_stream_false_and_null_are_not_streamed(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url)
    for value in (False, None):
        r = httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stream": value})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
