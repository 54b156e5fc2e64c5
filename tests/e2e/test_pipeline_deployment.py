"""The nightly pipeline as a user triggers it: `prefect deployment run 'training-pipeline/nightly'`
against a real Prefect server and process worker, on the tiny config; it must end with a
registered, benchmarked and promoted version, logs that carry the run ids, and no vLLM left.
Run a second time, it decides its promotion head to head with the champion by confidence
intervals, both versions served by one vLLM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import POOL, flow_run_id_of
from tests.conftest import TINY_CONFIG, vllm_processes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


# a short capacity sweep each night (a handful of 2-second steps on the tiny model); the second
# night also sweeps the champion on the same vLLM and the gate checks the candidate keeps a
# quarter of its capacity (loose: identical-ish adapters must not be rejected by noise)
CAPACITY = ["capacity.slo_ttft_ms=3000", "capacity.start_rate_per_s=4", "capacity.max_rate_per_s=32",
            "capacity.min_rate_per_s=1", "capacity.duration_s=2", "capacity.min_requests=8", "capacity.max_steps=5",
            "promotion.min_capacity_ratio=0.25"]


def test_nightly_deployment_trains_registers_benchmarks_and_promotes(deployed, tmp_path):
    from tasks.registry.versions import client_for

    data_dir, log_dir = tmp_path / "data", tmp_path / "logs"
    overrides = [f"paths.data_dir={data_dir}", "train.max_steps=40", "train.save_steps=20", "train.eval_steps=20",
                 "benchmark.num_prompts=12", "benchmark.eval_max_examples=24", *CAPACITY]
    triggered = deployed.cli("deployment", "run", "training-pipeline/nightly",
                             "--param", "overrides=" + json.dumps(overrides), "--param", f"log_dir={log_dir}",
                             "--param", f"config_path={TINY_CONFIG}")
    run_id = flow_run_id_of(triggered.stdout)

    with deployed.worker(POOL):  # kept up until the run's last log batch has shipped
        run = deployed.wait_for_flow_run(run_id, timeout_s=600)
        run_logs = _run_logs(deployed, run_id, until="promotion gate")

    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], deployed.worker_log_tail())
    uri = f"sqlite:///{data_dir / 'mlflow' / 'mlflow.db'}"
    client = client_for(uri)
    version = client.get_model_version_by_alias("tiny-chat-lora", "champion")
    assert str(version.version) == "1"
    assert str(client.get_model_version_by_alias("tiny-chat-lora", "candidate").version) == "1"
    tags = version.tags
    assert float(tags["bench_completed"]) == 12 and tags["gate_passed"] == "True"
    assert float(tags["final_exact_match"]) > float(tags["base_exact_match"])
    report = next(data_dir.glob("benchmarks/*/report.md")).read_text()
    assert "Promotion gate: PASSED" in report

    # typed logs carry the Prefect run id; the benchmark's requests reached the inference log
    steps = [orjson.loads(line) for p in (log_dir / "training").glob("*.log") for line in p.read_bytes().splitlines()]
    assert any(e["message"] == "training_step" and e.get("flow_run_id") == run_id for e in steps)
    responses = [orjson.loads(line) for p in (log_dir / "inference").glob("*.log")
                 for line in p.read_bytes().splitlines()]
    assert sum(e["message"] == "benchmark_response" for e in responses) >= 12  # the client's own event
    assert list((log_dir / "vllm").glob("*.log"))
    # the managed vLLM did not outlive the flow
    assert not vllm_processes(str(data_dir))

    artifacts = deployed.api("POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert {a["type"] for a in artifacts} >= {"table", "markdown"}
    # step summaries (not every step) reach the run's log in the UI
    assert any("mean loss" in m for m in run_logs) and any("promotion gate passed" in m for m in run_logs)

    # then the on-demand benchmark of the champion, as `prefect deployment run ... --param` does it
    request = {"model_ref": "models:/tiny-chat-lora@champion", "overrides": [f"paths.data_dir={data_dir}"],
               "num_prompts": 5, "max_tokens": 8, "run_label": "cli-champion", "config_path": str(TINY_CONFIG)}
    _run_on_demand(deployed, request, log_dir)
    result = json.loads(next(data_dir.glob("benchmarks/*cli-champion/result.json")).read_text())
    assert result["completed"] == 5 and result["quality"] is not None
    assert not vllm_processes(str(data_dir))

    _second_night_decides_head_to_head(deployed, data_dir, log_dir, overrides)


def _second_night_decides_head_to_head(deployed, data_dir, log_dir, overrides) -> None:
    from tasks.promotion.comparison import Comparison
    from tasks.registry.versions import client_for

    triggered = deployed.cli("deployment", "run", "training-pipeline/nightly",
                             "--param", "overrides=" + json.dumps(overrides), "--param", f"log_dir={log_dir}",
                             "--param", f"config_path={TINY_CONFIG}")
    run_id = flow_run_id_of(triggered.stdout)
    with deployed.worker(POOL):
        run = deployed.wait_for_flow_run(run_id, timeout_s=600)
        run_logs = _run_logs(deployed, run_id, until="promotion gate")
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], deployed.worker_log_tail())
    client = client_for(f"sqlite:///{data_dir / 'mlflow' / 'mlflow.db'}")
    tags = client.get_model_version("tiny-chat-lora", "2").tags
    assert (tags["gate_mode"], tags["gate_champion_version"]) == ("head_to_head", "1")
    comparison = Comparison.from_dict(json.loads(Path(tags["gate_comparison_file"]).read_text()))
    assert (comparison.champion, comparison.candidate) == ("tiny-chat-lora-v1", "tiny-chat-lora-v2")
    assert comparison.resamples >= 2000 and comparison.quality_items == 24 and comparison.latency_requests == 12
    assert {"exact_match", "median_ttft", "p95_ttft", "median_e2el", "p95_e2el"} <= {m.metric for m in comparison.metrics}
    for m in comparison.metrics:  # the tags hold what the comparison computed, interval and verdict
        assert json.loads(tags[f"h2h_{m.metric}"])["verdict"] == m.verdict and m.low <= m.estimate <= m.high
    passed = tags["gate_passed"] == "True"
    decisions = sorted((orjson.loads(line) for p in (log_dir / "system").glob("promotion_*.log")
                        for line in p.read_bytes().splitlines()), key=lambda d: d["timestamp"])
    assert passed == (decisions[1]["failed_checks"] == "")
    assert comparison.passed or not passed
    # capacity: both swept on the one vLLM; recorded on the version, in its MLflow run, checked by the gate
    assert float(tags["capacity_max_rate_meeting_slo"]) > 0 and tags["capacity_bound"] in ("bracketed", "lower_bound")
    assert Path(tags["capacity_result_file"]).with_name("capacity_champion.json").exists()
    assert "capacity" in tags["gate_summary"] or not passed
    version_run = client.get_run(client.get_model_version("tiny-chat-lora", "2").run_id)
    assert version_run.data.metrics["capacity_max_rate_meeting_slo_per_s"] == float(tags["capacity_max_rate_meeting_slo"])
    assert {a.path for a in client.list_artifacts(version_run.info.run_id, "capacity")} == {
        "capacity/capacity.json", "capacity/capacity.png"}
    champion = client.get_model_version_by_alias("tiny-chat-lora", "champion").version
    assert str(champion) == ("2" if passed else "1")
    assert any("head to head with the champion" in m for m in run_logs)
    # one vLLM served both versions under their versioned names
    commands = [p.read_text().splitlines()[0] for p in (log_dir / "vllm").glob("*.log")]
    assert any("tiny-chat-lora-v1=" in c and "tiny-chat-lora-v2=" in c for c in commands)
    out = Path(tags["gate_comparison_file"]).parent
    assert (out / "comparison.png").stat().st_size > 0 and (out / "head_to_head_requests.jsonl").exists()
    report = (out / "report.md").read_text()
    assert "## Head to head with the champion" in report and "| exact_match |" in report
    assert "## Capacity at the SLO" in report and "![Capacity plot](capacity.png)" in report
    assert [(d["candidate_version"], d["mode"]) for d in decisions] == [("1", "absolute"), ("2", "head_to_head")]
    assert decisions[1]["passed"] is passed and decisions[1]["metrics_compared"] == len(comparison.metrics)
    artifacts = deployed.api("POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert any(a["key"].endswith("-head-to-head") for a in artifacts)
    assert not vllm_processes(str(data_dir))

    # the on-demand benchmark compares any two versions when asked (compare_with), without promoting
    request = {"model_ref": "models:/tiny-chat-lora/2", "compare_with": "models:/tiny-chat-lora/1",
               "overrides": [f"paths.data_dir={data_dir}", *CAPACITY], "num_prompts": 6, "max_tokens": 8,
               "run_label": "cli-h2h", "config_path": str(TINY_CONFIG), "capacity_sweep": True}
    _run_on_demand(deployed, request, log_dir)
    (found,) = data_dir.glob("benchmarks/*cli-h2h/comparison.json")
    compared = Comparison.from_dict(json.loads(found.read_text()))
    assert (compared.champion, compared.candidate, compared.latency_requests) == (
        "tiny-chat-lora-v1", "tiny-chat-lora-v2", 6)
    assert "## Head to head with the champion" in (found.parent / "report.md").read_text()
    swept = json.loads((found.parent / "capacity.json").read_text())    # the form's capacity_sweep
    assert swept["model_id"] == "tiny-chat-lora-v2" and swept["rows"] and "## Capacity at the SLO" in (
        found.parent / "report.md").read_text()
    assert str(client.get_model_version_by_alias("tiny-chat-lora", "champion").version) == str(champion)
    assert not vllm_processes(str(data_dir))


def _run_on_demand(deployed, request: dict, log_dir) -> None:
    """`prefect deployment run benchmark/on-demand --param request=...`, to completion."""
    triggered = deployed.cli("deployment", "run", "benchmark/on-demand", "--param", "request=" + json.dumps(request),
                             "--param", f"log_dir={log_dir}")
    bench_run_id = flow_run_id_of(triggered.stdout)
    with deployed.worker(POOL):
        run = deployed.wait_for_flow_run(bench_run_id, timeout_s=300)
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], deployed.worker_log_tail())


def _run_logs(server, flow_run_id: str, until: str, timeout_s: float = 30) -> list[str]:
    """The run's log messages, once one containing `until` has arrived (logs ship in batches)."""
    deadline = time.monotonic() + timeout_s
    while True:
        messages = [entry["message"] for offset in range(0, 2000, 200) for entry in server.api(
            "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200,
                                          "offset": offset})]
        if any(until in m for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(1)
