"""The stub server's own record of each request (`GET /truth`): what client latencies are checked against."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from testkit.stub_vllm import StubServer
from testkit.truth import fetch_truth


@pytest.fixture()
def stub() -> Iterator[StubServer]:
    server = StubServer(ttft_ms=30, itl_ms=10, output_tokens=5).start_in_thread()
    yield server
    server.stop_thread()


def _chat(server: StubServer, headers: dict[str, str], **body: object) -> None:
    payload = {"model": "stub-model", "messages": [{"role": "user", "content": "hi"}], **body}
    with httpx.stream("POST", server.base_url + "/v1/chat/completions", json=payload, headers=headers) as r:
        assert r.status_code == body.get("stub", {}).get("status", 200)  # type: ignore[union-attr]
        r.read()


def test_truth_records_each_request_by_its_id_with_the_servers_own_timings(stub: StubServer) -> None:
    _chat(stub, {"x-request-id": "a-1"}, stream=True, max_tokens=5)
    _chat(stub, {}, stream=True, max_tokens=3, stub={"ttft_ms": 80})        # no id: found by arrival order
    _chat(stub, {"x-request-id": "a-3"}, max_tokens=4)                       # unary: one write, first = last
    _chat(stub, {"x-request-id": "a-4"}, stub={"status": 503})
    truth = fetch_truth(stub.base_url)
    assert list(truth) == ["a-1", "#1", "a-3", "a-4"]
    a1, anon, unary, failed = truth.values()
    assert (a1.order, a1.tokens, anon.tokens, unary.tokens, failed.tokens) == (0, 5, 3, 1, 0)
    assert 30 <= a1.ttft_ms < 45 and 70 <= a1.e2el_ms < 90          # 30 + 4 * 10
    assert 80 <= anon.ttft_ms < 95
    assert unary.ttft_ms == unary.e2el_ms and 60 <= unary.e2el_ms < 80   # 30 + 3 * 10, sent at once
    assert failed.status == 503 and failed.ttft_ms is None and failed.e2el_ms is None
    assert a1.read_s < anon.read_s < unary.read_s < failed.read_s


def test_truth_keeps_only_the_latest_requests() -> None:
    from testkit.truth import TruthLog

    log = TruthLog(capacity=3)
    for k in range(5):
        log.arrive("m", float(k))
    out = log.to_dict()
    assert out["arrived"] == 5 and [r["order"] for r in out["requests"]] == [2, 3, 4]
