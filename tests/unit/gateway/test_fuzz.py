"""Property tests: whatever a client sends (body, headers, path, method, or raw bytes as the
request head), the gateway answers with a well-formed HTTP response that is a result or an
OpenAI-shaped error, never a 500 or a hang, and every log line it writes is schema-valid."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configs.serving import GatewayConfig
from logging_lib.schemas import validate_file
from testkit.stub_vllm import StubServer
from tasks.gateway.server import BackgroundGateway

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"]

def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()  # the stdlib: integers beyond 64 bits too


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
# The fields the gateway reads, plus noise; max_tokens is pinned small so the stub never streams for long.
payloads = st.dictionaries(
    st.sampled_from(["model", "messages", "prompt", "stream", "stream_options", "temperature", "n", "x" * 3]),
    json_values | st.sampled_from(["stub-model", True, False, "false", {"include_usage": True}]), max_size=6,
).map(lambda d: {**d, "max_tokens": 3})
bodies = st.one_of(payloads.map(_dumps), st.binary(max_size=300), json_values.map(_dumps))
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)
headers = st.dictionaries(
    st.sampled_from(["x-request-id", "content-type", "authorization", "accept", "x-custom", "expect-nothing"]),
    header_text, max_size=4)
paths = st.one_of(st.sampled_from(ROUTES), st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80)
                  .map(lambda p: "/" + p.lstrip("/")))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_dir = tmp_path_factory.mktemp("fuzz-logs")
    stub = StubServer(output_tokens=3).start_in_thread()
    gw = BackgroundGateway(GatewayConfig(backend_url=stub.base_url, port=0, max_body_bytes=4096,
                                         upstream_timeout_s=5), log_dir=str(log_dir)).start()
    yield gw.base_url, log_dir
    gw.stop()
    stub.stop_thread()
    files = [*(log_dir / "api").glob("*.log"), *(log_dir / "inference").glob("*.log")]
    assert files
    for f in files:
        report = validate_file(f)
        assert report.ok, (f.name, report.errors)


def _check(status: int, content_type: str, body: bytes) -> None:
    assert status != 500 and 200 <= status < 600, (status, body[:300])
    if status >= 400:
        err = orjson.loads(body)["error"]
        assert set(err) == {"message", "type", "param", "code"}, body[:300]
        assert "Traceback" not in err["message"]
    elif content_type.startswith("application/json"):
        orjson.loads(body)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]), path=paths, headers=headers,
       body=bodies)
def test_any_request_gets_a_result_or_an_openai_error(gateway, method: str, path: str, headers: dict,
                                                      body: bytes) -> None:
    base_url, _ = gateway
    r = httpx.request(method, base_url + path, headers=headers, content=body, timeout=10)
    _check(r.status_code, r.headers.get("content-type", ""), r.content)


@FUZZ
@given(completion=st.sampled_from(["/v1/chat/completions", "/v1/completions"]), body=payloads)
def test_any_completion_body_gets_a_result_or_an_openai_error(gateway, completion: str, body: dict) -> None:
    base_url, _ = gateway
    r = httpx.post(base_url + completion, json=body, timeout=10)
    content_type = r.headers.get("content-type", "")
    _check(r.status_code, content_type, r.content)
    if r.status_code == 200 and content_type.startswith("text/event-stream"):
        assert body.get("stream") is True
        assert r.text.rstrip().endswith("data: [DONE]")
    elif r.status_code == 200:
        assert body.get("stream") in (None, False)


@FUZZ
@given(head=st.binary(min_size=1, max_size=400) | st.lists(header_text, max_size=5).map(
    lambda lines: ("\r\n".join(["GET / HTTP/1.1", *lines]) + "\r\n\r\n").encode()))
def test_raw_bytes_as_a_request_get_a_well_formed_answer(gateway, head: bytes) -> None:
    """Bytes that are not (all) HTTP: an answer in OpenAI's shape, or the connection closed
    without one when the bytes never made a request; never a hang."""
    base_url, _ = gateway
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    status = int(status_line.split()[1])
    head_part, _, body = rest.partition(b"\r\n\r\n")
    ctype = next((ln.split(b":", 1)[1].strip().decode() for ln in head_part.split(b"\r\n")
                  if ln.lower().startswith(b"content-type:")), "")
    if b"transfer-encoding: chunked" not in head_part.lower():
        _check(status, ctype, body)
