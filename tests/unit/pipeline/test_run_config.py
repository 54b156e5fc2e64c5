"""The flows' small decisions, against a real SQLite MLflow registry."""

from __future__ import annotations

import pytest

from configs.benchmark_request import BenchmarkRequest
from configs.loader import load_config
from tests.conftest import REPO_ROOT


@pytest.fixture
def cfg(tmp_path):
    return load_config(REPO_ROOT / "configs" / "local.yaml", [f"paths.data_dir={tmp_path}"])


def test_run_name_is_unique_per_flow_run_and_stable_for_its_retries(cfg):
    from tasks.pipeline.run_config import with_run_name

    a, b = with_run_name(cfg, "brave-otter"), with_run_name(cfg, "calm heron!")
    assert a.train.run_name == "local-brave-otter" and b.train.run_name == "local-calm-heron"
    assert with_run_name(cfg, "brave-otter").train.run_name == a.train.run_name
    assert with_run_name(cfg, None) is cfg


def test_benchmark_config_takes_request_fields_and_the_eval_split(cfg, tmp_path):
    from tasks.pipeline.run_config import benchmark_config

    req = BenchmarkRequest(model_ref="models:/m/1", num_prompts=7, max_tokens=4, dataset_path="prompts.jsonl")
    bench = benchmark_config(cfg, str(tmp_path / "eval.jsonl"), req)
    assert (bench.num_prompts, bench.max_tokens) == (7, 4)
    assert bench.dataset_path == REPO_ROOT / "prompts.jsonl"
    assert bench.eval_path == tmp_path / "eval.jsonl"
    assert benchmark_config(cfg, str(tmp_path / "eval.jsonl"), req, measure_quality=False).eval_path is None
    assert bench.max_concurrency == cfg.benchmark.max_concurrency  # untouched fields come from the config


def test_request_needs_a_target_and_promotion_needs_a_registry_version():
    with pytest.raises(ValueError, match="served_model_name"):
        BenchmarkRequest(endpoint="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="promote needs model_ref"):
        BenchmarkRequest(endpoint="http://127.0.0.1:1", served_model_name="m", promote=True)
    with pytest.raises(ValueError, match="model_ref"):
        BenchmarkRequest(model_ref=None)


def test_champion_quality_round_trips_exactly_so_an_equal_candidate_passes(cfg, tmp_path):
    from tasks.pipeline.run_config import champion_quality, record_benchmark
    from tasks.promotion.gate import decide
    from tasks.registry.versions import client_for, promote

    uri = str(cfg.mlflow.tracking_uri)
    client = client_for(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", source=str(tmp_path)).version
    assert champion_quality(uri, "m") is None
    quality = 35 / 48  # 0.729166...
    record_benchmark(uri, "m", str(version), {"quality": quality, "completed": 10, "result_file": "r.json"},
                     {"passed": True, "summary": "ok"})
    promote(uri, "m", version)
    assert champion_quality(uri, "m") == quality
    result = {"p99_ttft_ms": 10.0, "completed": 10, "failed": 0, "quality": quality}
    assert decide(result, cfg.promotion, champion_quality(uri, "m")).passed
