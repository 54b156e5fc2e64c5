"""Benchmark tags on a version, against a real SQLite MLflow registry."""

from __future__ import annotations

import pytest

from configs.loader import load_config
from tests.conftest import REPO_ROOT
from tests.unit.benchmark.results_factory import make_result


@pytest.fixture
def cfg(tmp_path):
    return load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])


def test_champion_quality_round_trips_exactly_so_an_equal_candidate_passes(cfg, tmp_path):
    from tasks.registry.benchmark_tags import champion_quality, record_benchmark
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
    result = make_result(completed=10, failed=0, ttft_s=0.010, quality=quality)
    assert decide(result, cfg.promotion, champion_quality(uri, "m")).passed
