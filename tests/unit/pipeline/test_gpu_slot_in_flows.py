"""Where the flows hold the GPU slot: the pipeline from training to stopping vLLM, the benchmark
flow from deploy to stop and only when it starts its own vLLM; released when a step fails.

The tasks are replaced by recorders (this tests the flows' order, not the tasks); the slot
itself is tested on a real Prefect server in tests/e2e/test_gpu_slot.py."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest

from configs.benchmark_request import BenchmarkRequest
from configs.loader import load_config
from tasks.benchmark.results import HEADLINE_METRICS
from tests.conftest import TINY_CONFIG

DECISION = {"summary": "ok", "promoted": False, "passed": [], "failed": [], "mode": "absolute", "champion_version": None}


def _fake_flow_module(monkeypatch, module, events: list[str], fail_at: str | None = None) -> None:
    def step(name, result=None):
        def run(*args, **kwargs):
            events.append(name)
            if name == fail_at:
                raise RuntimeError(f"injected: {name} failed")
            return result
        return run

    @contextmanager
    def slot(limit, lease_s, log, run_id=None):
        events.append(f"take {limit}")
        try:
            yield
        finally:
            events.append(f"release {limit}")

    fakes = {
        "gpu_slot": slot,
        "get_run_logger": lambda: logging.getLogger("test"),
        "load_config_task": lambda path, overrides, *a: load_config(TINY_CONFIG, overrides),
        "prepare_data_task": step("prepare", {"eval_path": "eval.jsonl"}),
        "build_base_model_task": step("base", "base-ref"),
        "train_task": step("train", {}),
        "register_task": step("register", {"model_name": "m", "version": "1", "run_id": "r", "adapter_dir": "a",
                                           "metrics": {}}),
        "resolve_model_task": step("resolve", {"name": "m", "version": "1", "eval_path": "eval.jsonl"}),
        "champion_task": step("champion", {"version": None, "ref": None, "reason": "none"}),
        "champion_quality_task": step("champion-quality"),
        "deploy_model_task": step("deploy", {"pid": 4242, "base_url": "http://x", "served_name": "m"}),
        "measure_and_decide": step("measure", (dict.fromkeys(HEADLINE_METRICS, 0), None, DECISION)),
        "stop_model_task": step("stop"),
        "record_benchmark_task": step("record"),
        "publish_report_task": step("publish", {}),
    }
    for name, fake in fakes.items():
        if hasattr(module, name):
            monkeypatch.setattr(module, name, fake)


def test_the_pipeline_holds_the_slot_from_training_to_stopping_vllm(monkeypatch, tmp_path):
    import flows.pipeline as pipeline

    events: list[str] = []
    _fake_flow_module(monkeypatch, pipeline, events)
    pipeline.training_pipeline.fn(str(TINY_CONFIG), [f"paths.data_dir={tmp_path}"], str(tmp_path / "logs"))
    assert events == ["prepare", "base", "take gpu", "train", "register", "champion", "champion-quality", "deploy",
                      "measure", "stop", "release gpu", "record", "publish"]


def test_a_failed_benchmark_stops_vllm_then_releases_the_slot(monkeypatch, tmp_path):
    import flows.pipeline as pipeline

    events: list[str] = []
    _fake_flow_module(monkeypatch, pipeline, events, fail_at="measure")
    with pytest.raises(RuntimeError, match="injected"):
        pipeline.training_pipeline.fn(str(TINY_CONFIG), [f"paths.data_dir={tmp_path}"], str(tmp_path / "logs"))
    assert events[-3:] == ["measure", "stop", "release gpu"]


def test_registration_only_releases_the_slot_after_registering(monkeypatch, tmp_path):
    import flows.pipeline as pipeline

    events: list[str] = []
    _fake_flow_module(monkeypatch, pipeline, events)
    pipeline.training_pipeline.fn(str(TINY_CONFIG), [f"paths.data_dir={tmp_path}", "orchestration.gpu_limit=gpu-a"],
                                  str(tmp_path / "logs"), deploy_and_benchmark=False)
    assert events == ["prepare", "base", "take gpu-a", "train", "register", "release gpu-a"]


@pytest.mark.parametrize("request_fields, overrides, slot", [
    ({"model_ref": "models:/m/1"}, [], True),                                    # starts its own vLLM
    ({"model_ref": "models:/m/1"}, ["serving.mode=attached", "serving.base_url=http://127.0.0.1:9"], False),
    ({"endpoint": "http://127.0.0.1:9", "served_model_name": "m"}, [], False),  # measures a running server
])
def test_the_benchmark_flow_holds_the_slot_only_around_a_vllm_of_its_own(monkeypatch, tmp_path, request_fields,
                                                                        overrides, slot):
    import flows.benchmark as benchmark

    events: list[str] = []
    _fake_flow_module(monkeypatch, benchmark, events)
    request = BenchmarkRequest(config_path=str(TINY_CONFIG), overrides=[f"paths.data_dir={tmp_path}", *overrides],
                               **request_fields)
    benchmark.benchmark_flow.fn(request, str(tmp_path / "logs"))
    served = [e for e in events if e in ("take gpu", "deploy", "measure", "stop", "release gpu")]
    if slot:
        assert served == ["take gpu", "deploy", "measure", "stop", "release gpu"]
    else:
        assert "take gpu" not in events and "measure" in events
