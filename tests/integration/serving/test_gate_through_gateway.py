"""The flows' benchmark step (`measure_and_decide`) with serving.gateway_url against the real
vLLM CPU build serving the tiny base plus an adapter, behind a gateway that requires a key:
the load and the quality step's requests (tuned and base) each reach vLLM through the gateway
and are written there exactly once, under the ids the result files keep."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from configs.benchmark import BenchmarkConfig
from configs.data import DataConfig
from configs.promotion import PromotionConfig
from configs.serving import GatewayConfig
from tasks.gateway.server import BackgroundGateway
from tasks.training.data import prepare_data

pytestmark = pytest.mark.integration

KEY = "k-vllm-path"


def _row(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"the quick brown fox number {i}"},
                         {"role": "assistant", "content": "jumps"}]}


def test_the_flows_benchmark_step_through_a_keyed_gateway_on_real_vllm(prefect_harness, stack, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    from flows._gate import measure_and_decide

    train, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    train.write_text(json.dumps(_row(1)) + "\n")
    held.write_text("".join(json.dumps(_row(i)) + "\n" for i in (2, 3)))
    eval_path = prepare_data(DataConfig(name="fox", path=train, eval_path=held), tmp_path / "datasets").eval_path
    logs = tmp_path / "logs"
    monkeypatch.delenv("MLOPS_GATEWAY_API_KEY", raising=False)
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEYS", KEY)  # the benchmark sends the first gateway key
    gw = BackgroundGateway(GatewayConfig(backend_url=stack.deployment.base_url, port=0, upstream_timeout_s=120),
                           log_dir=str(logs), api_keys=(KEY,)).start()
    try:
        bench_cfg = BenchmarkConfig(num_prompts=4, max_tokens=4, request_rate=20, eval_path=eval_path,
                                    eval_max_tokens=4)
        run = flow(name="gate-through-gateway-vllm", validate_parameters=False)(measure_and_decide)
        bench, h2h, decision = run(PromotionConfig(), bench_cfg, stack.deployment.to_dict(), tmp_path / "out",
                                   str(logs), champion={"ref": None, "version": None}, gate=None,
                                   gateway_url=gw.base_url)
    finally:
        gw.stop()
    assert h2h is None and decision is None and bench["completed"] == 4

    result = json.loads((tmp_path / "out" / "result.json").read_text())
    items = [json.loads(x) for x in (tmp_path / "out" / "quality_items.jsonl").read_text().splitlines()]
    sent = [r["request_id"] for r in result["requests"]] + [r[f"{s}_request_id"] for r in items
                                                           for s in ("tuned", "base")]
    assert len(set(sent)) == 4 + 2 * 2 and result["base_url"] == gw.base_url

    def lines(log_type: str) -> list[dict]:
        return [json.loads(x) for f in sorted((logs / log_type).glob("gateway_*.log")) for x in f.read_text().splitlines()]

    api, inference = lines("api"), lines("inference")
    for event, source in (("api_response", api), ("inference_response", inference)):
        counts = Counter(ln["request_id"] for ln in source if ln["message"] == event)
        assert {rid: counts[rid] for rid in sent} == dict.fromkeys(sent, 1), event
    models = {ln["request_id"]: ln["model_name"] for ln in inference if ln["message"] == "inference_response"}
    assert {models[r["tuned_request_id"]] for r in items} == {stack.target.served_name}
    assert {models[r["base_request_id"]] for r in items} == {stack.target.base_name}
