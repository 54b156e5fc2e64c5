"""The benchmark a run measures: request overrides over the config, the eval split for quality."""

from __future__ import annotations

import pytest

from configs.benchmark_request import BenchmarkRequest
from configs.loader import load_config
from tests.conftest import REPO_ROOT


@pytest.fixture
def cfg(tmp_path):
    return load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])


def test_benchmark_config_takes_request_fields_and_the_eval_split(cfg, tmp_path):
    from tasks.benchmark.plan import benchmark_config

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


def test_quality_answers_get_the_trainers_eval_length_not_the_load_tests(tmp_path):
    """local.yaml loads with 16-token replies, but a JSON record is ~50 tokens: scored at 16 every
    served answer would be cut off, while the trainer's evaluation gave it eval.max_new_tokens."""
    from tasks.benchmark.plan import benchmark_config

    cfg = load_config(REPO_ROOT / "configs" / "local.yaml", [f"paths.data_dir={tmp_path}"])
    bench = benchmark_config(cfg, str(tmp_path / "eval.jsonl"))
    assert bench.max_tokens == cfg.benchmark.max_tokens < cfg.eval.max_new_tokens
    assert bench.eval_max_tokens == bench.quality_max_tokens() == cfg.eval.max_new_tokens
    pinned = load_config(REPO_ROOT / "configs" / "local.yaml", [f"paths.data_dir={tmp_path}",
                                                                 "benchmark.eval_max_tokens=200"])
    assert benchmark_config(pinned, str(tmp_path / "eval.jsonl")).quality_max_tokens() == 200


def test_a_capacity_sweep_takes_the_configs_slo_or_says_how_to_give_one(tmp_path):
    from configs.errors import ConfigError
    from tasks.benchmark.plan import capacity_config

    req = BenchmarkRequest(model_ref="models:/m/1", capacity_sweep=True)
    plain = load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"capacity_sweep needs a `capacity` section.*capacity\.slo_ttft_ms"):
        capacity_config(plain, req)
    with_slo = load_config(REPO_ROOT / "configs" / "tiny.yaml", ["capacity.slo_ttft_ms=500"])
    assert capacity_config(with_slo, req).slos_ms() == {"ttft": 500.0}
    assert capacity_config(with_slo, BenchmarkRequest(model_ref="models:/m/1")) is None
