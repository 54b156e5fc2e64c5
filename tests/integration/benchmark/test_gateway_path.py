"""The production profile's benchmark path: `measure_and_decide` (what both flows run) with
serving.gateway_url set sends every request of the benchmark, the quality step, the capacity
sweeps and the head-to-head load through the REAL gateway (keys required) in front of the stub
vLLM. Each request carries its own X-Request-ID and is written server-side exactly once: one
api_request/api_response in logs/api, one inference_request/inference_response in
logs/inference; the client's file holds only its own benchmark_* view. A wrong or missing key
and a gateway that is down fail before any load is sent, naming serving.gateway_url."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from configs.data import DataConfig
from configs.errors import ServingError
from configs.promotion import PromotionConfig
from configs.serving import GatewayConfig
from tasks.gateway.server import BackgroundGateway
from tasks.training.data import prepare_data
from testkit.stub_vllm import StubServer
from testkit.truth import fetch_truth

pytestmark = pytest.mark.integration

KEY = "k-bench-7f3a"
BASE, CANDIDATE, CHAMPION = "orders-base", "orders-v4", "orders-v3"
CHAMPION_REF = "models:/orders/3"


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(model=BASE, ttft_ms=5, itl_ms=1, output_tokens=4).start_in_thread()
    for name in (CANDIDATE, CHAMPION):  # listed by /v1/models as vLLM lists loaded adapters
        httpx.post(server.base_url + "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": "/a"})
    yield server
    server.stop_thread()


@pytest.fixture
def gateway(stub: StubServer, log_dir: Path) -> Iterator[BackgroundGateway]:
    gw = BackgroundGateway(GatewayConfig(backend_url=stub.base_url, port=0), log_dir=str(log_dir),
                           api_keys=("k-other", KEY)).start()
    yield gw
    gw.stop()


@pytest.fixture
def eval_path(tmp_path: Path) -> Path:
    def row(i: int) -> dict:
        return {"messages": [{"role": "user", "content": f"order {i}"}, {"role": "assistant", "content": f"ok {i}"}]}

    train, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    train.write_text(json.dumps(row(0)) + "\n")
    held.write_text("".join(json.dumps(row(i)) + "\n" for i in (1, 2, 3)))
    return prepare_data(DataConfig(name="orders", path=train, eval_path=held), tmp_path / "datasets").eval_path


def _deployment(stub: StubServer) -> dict:
    """What deploy_model_task hands on for a candidate served beside the champion."""
    return {"mode": "managed", "base_url": stub.base_url, "served_name": CANDIDATE, "base_name": BASE, "pid": None,
            "served_names": {"models:/orders/4": CANDIDATE, CHAMPION_REF: CHAMPION}}


def _measure(stub: StubServer, gateway_url: str, out: Path, logs: Path, eval_path: Path | None = None) -> tuple:
    from prefect import flow

    from flows._gate import measure_and_decide

    run = flow(name="measure-through-gateway", validate_parameters=False)(measure_and_decide)  # tasks in a flow run
    bench = BenchmarkConfig(num_prompts=6, max_tokens=4, request_rate=50, eval_path=eval_path, eval_max_examples=3)
    cap = CapacityConfig(slo_ttft_ms=2000, start_rate_per_s=8, max_rate_per_s=16, min_rate_per_s=8, duration_s=0.5,
                         min_requests=4, max_steps=2)
    return run(PromotionConfig(head_to_head_requests=4, min_capacity_ratio=0.5), bench,
                              _deployment(stub), out, str(logs), champion={"ref": CHAMPION_REF, "version": "3"},
                              gate=None, capacity=cap, gateway_url=gateway_url)


def _lines(log_dir: Path, log_type: str, logger: str) -> list[dict]:
    return [json.loads(raw) for f in sorted((log_dir / log_type).glob(f"{logger}_*.log"))
            for raw in f.read_text().splitlines()]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_benchmark_request_goes_through_the_gateway_and_is_logged_there_once(
        prefect_harness, stub: StubServer, gateway: BackgroundGateway, eval_path: Path, tmp_path: Path,
        log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_GATEWAY_API_KEYS", raising=False)
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEY", KEY)
    out = tmp_path / "run"
    bench, h2h, decision = _measure(stub, gateway.base_url, out, log_dir, eval_path)
    assert decision is None and h2h is not None and bench["capacity"]["steps"] >= 1

    # what the server behind the gateway saw: every completion with its own id, none twice
    seen = fetch_truth(stub.base_url)
    ids = [rid for rid in seen if not rid.startswith("#")]
    assert len(ids) == len(seen), "a request reached vLLM without an X-Request-ID of its own"
    assert not [r for r in ids if r.startswith("req_")], "the gateway had to invent ids"
    # each of them written server-side exactly once
    api = _lines(log_dir, "api", "gateway")
    inference = _lines(log_dir, "inference", "gateway")
    for event, lines in (("api_request", api), ("api_response", api), ("inference_request", inference),
                         ("inference_response", inference)):
        counts = Counter(ln["request_id"] for ln in lines if ln["message"] == event and ln["request_id"] in seen)
        assert counts == Counter(ids), f"{event}: not once per request"
    assert not [ln for ln in inference if ln["message"] == "inference_error"]
    assert {ln["status_code"] for ln in api if ln["message"] == "api_response" and ln["request_id"] in seen} == {200}

    # the results' per-request records name ids the gateway logged, for every kind of traffic
    result = json.loads((out / "result.json").read_text())
    run = result["benchmark_run_id"][:8]
    assert [r["request_id"] for r in result["requests"]] == [f"bench-{run}-{i:05d}" for i in range(6)]
    quality = _rows(out / "quality_items.jsonl")
    h2h_rows = _rows(Path(h2h["comparison_file"]).with_name("head_to_head_requests.jsonl"))
    sent = {r["request_id"] for r in result["requests"]} | {r["request_id"] for r in h2h_rows} | {
        r[f"{side}_request_id"] for r in quality for side in ("tuned", "base", "champion")}
    assert len(sent) == 6 + 2 * 4 + 3 * 3 and sent <= set(ids)
    assert {r["model"] for r in h2h_rows} == {CANDIDATE, CHAMPION}
    for sweep in ("capacity.json", "capacity_champion.json"):
        steps = json.loads((out / sweep).read_text())["rows"]
        assert steps and all(any(i.startswith(f"bench-{s['benchmark_run_id'][:8]}-") for i in ids) for s in steps)

    # the client's own view stays beside, under its own event names, one per request it timed
    client = _lines(log_dir, "inference", "benchmark")
    assert not [ln for ln in client if ln["message"].startswith("inference_")]
    responses = Counter(ln["request_id"] for ln in client if ln["message"] == "benchmark_response")
    assert set(responses) <= set(ids) and set(responses.values()) == {1}
    assert {r["request_id"] for r in result["requests"]} <= set(responses)
    assert KEY not in "".join(f.read_text() for f in log_dir.rglob("*.log"))


@pytest.mark.parametrize("key_env, said", [({"MLOPS_GATEWAY_API_KEY": "k-wrong"}, "refused the API key it was sent"),
                                           ({}, "needs an API key and none is set")], ids=["wrong-key", "no-key"])
def test_a_wrong_or_missing_key_fails_before_any_load(prefect_harness, stub: StubServer, gateway: BackgroundGateway,
                                                      tmp_path: Path, log_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                      key_env: dict, said: str) -> None:
    for name in ("MLOPS_GATEWAY_API_KEY", "MLOPS_GATEWAY_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ServingError, match=re.escape(f"serving.gateway_url {gateway.base_url} {said}")):
        _measure(stub, gateway.base_url, tmp_path / "run", log_dir)
    assert stub.stats.completions == 0 and not (tmp_path / "run" / "result.json").exists()


def test_a_gateway_that_is_down_fails_naming_the_setting(prefect_harness, stub: StubServer, tmp_path: Path,
                                                         log_dir: Path, free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
    with pytest.raises(ServingError, match=re.escape(f"no gateway answers at serving.gateway_url {url}")):
        _measure(stub, url, tmp_path / "run", log_dir)
    assert stub.stats.completions == 0
