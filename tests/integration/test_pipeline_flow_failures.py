"""A failing step fails the flow with the step's own message, and the managed vLLM never
outlives it (real training, real vLLM CPU build, Prefect test harness)."""

from __future__ import annotations

import pytest

from configs.errors import BenchmarkError, ConfigError
from tests.conftest import TINY_CONFIG, vllm_processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bad_config_fails_before_any_work(prefect_harness, tmp_path):
    from flows.pipeline import training_pipeline

    with pytest.raises(ConfigError, match=r"train\.max_steps"):
        training_pipeline(config_path=str(TINY_CONFIG), overrides=[f"paths.data_dir={tmp_path}", "train.max_steps=-3"], log_dir=str(tmp_path / "l"))
    assert not (tmp_path / "datasets").exists()


def test_benchmark_failure_fails_the_flow_and_stops_vllm(prefect_harness, tmp_path):
    from flows.pipeline import training_pipeline

    data_dir = tmp_path / "data"
    overrides = [f"paths.data_dir={data_dir}", "train.max_steps=4", "train.save_steps=4", "train.eval_steps=4",
                 "eval.before_training=false", "eval.require_improvement=false",
                 f"benchmark.dataset_path={tmp_path / 'missing.jsonl'}"]
    with pytest.raises(BenchmarkError) as info:
        training_pipeline(config_path=str(TINY_CONFIG), overrides=overrides, log_dir=str(tmp_path / "logs"))
    assert "missing.jsonl" in str(info.value)
    assert not vllm_processes(str(data_dir))
    assert list((tmp_path / "logs" / "vllm").glob("*.log"))  # it did start
