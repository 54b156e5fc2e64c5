"""The gateway against a local fake backend: pass-through, logs, usage, ids, errors, auth,
limits, disconnects and Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from configs.serving import GatewayConfig
from logging_lib.schemas import validate_file
from tasks.gateway.app import create_app
from tests.conftest import REPO_ROOT, run_cli
from tests.unit.gateway.conftest import by_event, read_events

CHAT = {"model": "stub-model", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def _sse_messages(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_non_streaming_chat_passes_through_and_is_logged(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    body = json.dumps(CHAT).encode()
    r = httpx.post(gw.base_url + "/v1/chat/completions", content=body,
                   headers={"x-request-id": "client-id-1", "content-type": "application/json"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "client-id-1"
    assert r.json()["choices"][0]["message"]["content"] == "tok " * 5
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 1)
    req, resp = by_event(api, "api_request")[0], by_event(api, "api_response")[0]
    assert (req["request_id"], req["method"], req["path"], req["request_bytes"]) == (
        "client-id-1", "POST", "/v1/chat/completions", len(body))
    assert resp["status_code"] == 200 and resp["duration_ms"] >= 20 and resp["response_bytes"] == len(r.content)
    inf = read_events(log_dir, "inference", lambda ls: len(ls) == 2)
    ireq, iresp = by_event(inf, "inference_request")[0], by_event(inf, "inference_response")[0]
    assert ireq["request_id"] == iresp["request_id"] == "client-id-1"
    assert ireq["prompt_chars"] == len("hello there") and "prompt" not in ireq
    assert iresp["model_name"] == "stub-model" and iresp["tokens_generated"] == 5 and iresp["prompt_tokens"] == 7
    assert iresp["latency_ms"] >= 20 and iresp["tokens_per_second"] == pytest.approx(5000 / iresp["latency_ms"], 0.01)
    assert "completion" not in iresp
    for f in [*(log_dir / "api").glob("*.log"), *(log_dir / "inference").glob("*.log")]:
        assert validate_file(f).ok, validate_file(f).errors


@pytest.mark.parametrize(("path", "status"), [("/v1/models", 401), ("/nowhere", 404)])
def test_api_response_is_on_disk_before_the_client_sees_the_end(log_dir: Path, path: str, status: int) -> None:
    """Whoever holds a whole response finds its api_response line (CI once read the log too early)."""
    app = create_app(GatewayConfig(backend_url="http://127.0.0.1:9", port=0), log_dir=str(log_dir), api_keys=("k",))
    seen_at_end: list[list[dict]] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            seen_at_end.append(by_event(read_events(log_dir, "api", timeout_s=0), "api_response"))

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"x-request-id", b"early-1")], "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    assert len(seen_at_end) == 1
    assert [(ln["request_id"], ln["status_code"]) for ln in seen_at_end[0]] == [("early-1", status)]
    assert len(by_event(read_events(log_dir, "api", timeout_s=0), "api_response")) == 1  # not logged twice


def test_streaming_gets_usage_for_logs_without_changing_what_client_sees(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.post(gw.base_url + "/v1/chat/completions",
                   json={**CHAT, "stream": True, "stub": {"ttft_ms": 40, "itl_ms": 100}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    msgs = _sse_messages(r.text)
    assert msgs[-1] == "[DONE]" and len(msgs) == 6
    assert all(json.loads(m)["choices"] for m in msgs[:-1])          # the injected usage chunk was removed
    assert stub.stats.last_body["stream_options"] == {"include_usage": True}
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_response")) == 1)
    resp = by_event(inf, "inference_response")[0]
    assert resp["request_id"] == r.headers["x-request-id"] and resp["request_id"].startswith("req_")
    assert resp["tokens_generated"] == 5 and resp["prompt_tokens"] == 7
    # TTFT is stamped at the first token, not at the headers (>= 40) nor at the end: the four
    # 100 ms gaps after it lie between TTFT and latency however loaded the machine is.
    assert resp["ttft_ms"] >= 40 and resp["latency_ms"] - resp["ttft_ms"] >= 350


def test_streaming_client_that_asks_for_usage_gets_it(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url)
    body = {"model": "stub-model", "prompt": "once", "max_tokens": 3, "stream": True,
            "stream_options": {"include_usage": True}}
    r = httpx.post(gw.base_url + "/v1/completions", json=body)
    msgs = _sse_messages(r.text)
    usage = json.loads(msgs[-2])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 3
    assert [json.loads(m)["choices"][0]["text"] for m in msgs[:3]] == ["tok "] * 3


def test_malformed_request_id_is_replaced(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.get(gw.base_url + "/v1/models", headers={"x-request-id": "bad id\twith spaces"})
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "stub-model"
    assert r.headers["x-request-id"].startswith("req_")


def test_upstream_down_is_502_in_openai_shape(make_gateway, log_dir: Path, free_port: int) -> None:
    gw = make_gateway(f"http://127.0.0.1:{free_port}")
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 502
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and "unreachable" in err["message"]
    assert httpx.get(gw.base_url + "/health").status_code == 503
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert by_event(inf, "inference_error")[0]["status"] == 502
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 2)
    assert by_event(api, "api_response")[0]["level"] == "ERROR"


def test_upstream_timeout_is_504(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url, upstream_timeout_s=0.3)
    r = httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stub": {"hang_s": 1.5}})
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"
    # a stream that stalls after it began ends with an error event (the status is already sent)
    r = httpx.post(gw.base_url + "/v1/chat/completions",
                   json={**CHAT, "stream": True, "stub": {"ttft_ms": 0, "itl_ms": 1500}})
    last = json.loads(_sse_messages(r.text)[-1])
    assert last["error"]["code"] == 504


def test_upstream_error_status_passes_through(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stub": {"status": 400}})
    assert r.status_code == 400 and r.json()["error"]["message"] == "stub error"
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert "upstream HTTP 400" in by_event(inf, "inference_error")[0]["error"]


def test_api_key_auth(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url, api_keys=("k-one", "k-two"))
    url = gw.base_url + "/v1/chat/completions"
    r = httpx.post(url, json=CHAT)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.post(url, json=CHAT, headers={"authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(url, json=CHAT, headers={"authorization": "Bearer k-two"}).status_code == 200
    assert httpx.get(gw.base_url + "/health").status_code == 200          # probes need no key
    assert stub.stats.completions == 1


def test_body_size_limit(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url, max_body_bytes=300)
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 400}]}
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=big)
    assert r.status_code == 413 and "300 bytes" in r.json()["error"]["message"]

    def chunks():  # no content-length: counted while read
        data = json.dumps(big).encode()
        yield data[:200]
        yield data[200:]

    r = httpx.post(gw.base_url + "/v1/chat/completions", content=chunks())
    assert r.status_code == 413
    assert stub.stats.completions == 0


def test_bad_json_is_400(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url)
    r = httpx.post(gw.base_url + "/v1/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_client_disconnect_mid_stream_cancels_upstream(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    with httpx.Client() as client, client.stream(
            "POST", gw.base_url + "/v1/chat/completions",
            json={**CHAT, "stream": True, "max_tokens": 200, "stub": {"ttft_ms": 0, "itl_ms": 50}}) as r:
        first = next(r.iter_raw())
        assert b"tok" in first
    deadline = time.monotonic() + 3
    while stub.stats.streams_cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stub.stats.streams_cancelled == 1 and stub.stats.streams_completed == 0
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    assert "disconnected" in by_event(inf, "inference_error")[0]["error"]


def test_client_disconnect_before_a_non_streaming_answer_cancels_upstream(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stub": {"ttft_ms": 2000}},
                   headers={"x-request-id": "gave-up"}, timeout=httpx.Timeout(5, read=0.5))
    inf = read_events(log_dir, "inference", lambda ls: len(by_event(ls, "inference_error")) == 1)
    err = by_event(inf, "inference_error")[0]
    assert err["request_id"] == "gave-up" and err["status"] == 499 and "disconnected" in err["error"]
    assert not by_event(inf, "inference_response")
    deadline = time.monotonic() + 6
    while stub.stats.unary_cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stub.stats.unary_cancelled == 1      # the backend saw the request closed before it answered
    api = read_events(log_dir, "api", lambda ls: len(by_event(ls, "api_response")) == 1)
    assert by_event(api, "api_response")[0]["status_code"] == 499
    # the gateway and its connection pool go on serving
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "tok " * 5


def test_idle_upstream_connections_the_backend_closed_are_not_sent_on(make_gateway, free_port: int) -> None:
    """After a lull the backend (uvicorn/vLLM: 5 s keep-alive) has closed our idle connections; the
    next request must not fail on them (CI once got a 502 here: stale, retry, stale again)."""
    from testkit.stub_vllm import StubServer

    first = StubServer(port=free_port).start_in_thread()
    gw = make_gateway(first.base_url)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=gw.base_url, timeout=10) as client:
            rs = await asyncio.gather(*(client.post("/v1/chat/completions", json={**CHAT, "stub": {"ttft_ms": 50}})
                                        for _ in range(4)))
        return [r.status_code for r in rs]

    assert asyncio.run(burst()) == [200] * 4          # four idle upstream connections in the pool now
    first.stop_thread()                              # ... which the backend closes
    second = StubServer(port=free_port).start_in_thread()
    try:
        time.sleep(0.2)
        r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT, timeout=10)
        assert r.status_code == 200, r.text
        assert second.stats.completions == 1
    finally:
        second.stop_thread()


def test_prompts_logged_only_when_enabled(stub, make_gateway, log_dir: Path) -> None:
    gw = make_gateway(stub.base_url, log_prompts=True)
    httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stream": True})
    inf = read_events(log_dir, "inference", lambda ls: len(ls) == 2)
    assert by_event(inf, "inference_request")[0]["prompt"] == CHAT["messages"]
    assert by_event(inf, "inference_response")[0]["completion"] == "tok " * 5


def test_prometheus_metrics_follow_the_genai_conventions(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url)
    httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stream": True, "stub": {"itl_ms": 20}})
    httpx.post(gw.base_url + "/v1/chat/completions", json={**CHAT, "stub": {"status": 400}})
    httpx.post(gw.base_url + "/v1/completions", json={"model": "stub-model", "prompt": "x", "max_tokens": 3})
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(gw.base_url + "/metrics").text)}

    def sample(family: str, suffix: str, **labels: str) -> float:
        return sum(s.value for s in families[family].samples
                   if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items()))

    ok = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "vllm", "gen_ai_request_model": "stub-model"}
    assert sample("mlops_gateway_requests", "_total", path="/v1/chat/completions", status="200") == 1
    assert sample("mlops_gateway_requests", "_total", path="/v1/chat/completions", status="400") == 1
    assert sample("gen_ai_server_request_duration_seconds", "_count", **ok, error_type="") == 1
    # the backend refused it: counted as an error, and not under a model name the client chose
    assert sample("gen_ai_server_request_duration_seconds", "_count", gen_ai_request_model="_OTHER",
                  error_type="400") == 1
    assert sample("gen_ai_server_request_duration_seconds", "_count", gen_ai_operation_name="text_completion") == 1
    assert sample("gen_ai_server_time_to_first_token_seconds", "_count", **ok) == 1
    tpot = sample("gen_ai_server_time_per_output_token_seconds", "_sum", **ok)
    assert sample("gen_ai_server_time_per_output_token_seconds", "_count", **ok) == 1 and 0.015 < tpot < 1
    assert sample("gen_ai_client_token_usage", "_sum", **ok, gen_ai_token_type="output") == 5
    assert sample("gen_ai_client_token_usage", "_sum", **ok, gen_ai_token_type="input") == 7
    # the spec's bucket boundaries
    les = [float(s.labels["le"]) for s in families["gen_ai_server_time_to_first_token_seconds"].samples
           if s.name.endswith("_bucket") and s.labels["gen_ai_request_model"] == "stub-model"]
    assert les[:4] == [0.001, 0.005, 0.01, 0.02] and les[-2:] == [10.0, float("inf")]
    les = [float(s.labels["le"]) for s in families["gen_ai_client_token_usage"].samples
           if s.name.endswith("_bucket") and s.labels["gen_ai_token_type"] == "output"
           and s.labels["gen_ai_operation_name"] == "chat"]
    assert les[:3] == [1, 4, 16] and les[-2] == 67108864


def test_cli_gateway_serves_and_rejects_bad_url(stub, tmp_path: Path, free_port: int) -> None:
    bad = run_cli("gateway", "--backend-url", "localhost:8000")
    assert bad.returncode == 2 and "http://" in bad.stderr and "Traceback" not in bad.stderr
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MLOPS_GATEWAY_API_KEYS": "s3cret"}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "gateway", "--backend-url", stub.base_url,
                             "--port", str(free_port), "--log-dir", str(tmp_path / "logs")],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{free_port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        r = httpx.post(url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer s3cret"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"s3cret" not in out
    assert list((tmp_path / "logs" / "api").glob("gateway_*.log"))


def test_all_upstream_connections_busy_is_503(stub, make_gateway) -> None:
    gw = make_gateway(stub.base_url, max_connections=1)
    with httpx.Client() as client, client.stream(
            "POST", gw.base_url + "/v1/chat/completions",
            json={**CHAT, "stream": True, "max_tokens": 50, "stub": {"ttft_ms": 0, "itl_ms": 20}}) as held:
        chunks = held.iter_raw()  # keep a reference: a collected iterator closes the stream
        next(chunks)
        r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT)
        assert r.status_code == 503 and r.json()["error"]["type"] == "service_unavailable"
    assert httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT).status_code == 200  # freed again
