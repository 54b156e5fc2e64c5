"""Whom the candidate is compared with, and what the registry keeps of the comparison,
against a real SQLite MLflow registry."""

from __future__ import annotations

import json

import pytest

from configs.loader import load_config
from tests.conftest import REPO_ROOT
from tests.unit.promotion.h2h_rows import latency_rows, quality_rows


@pytest.fixture
def registry(tmp_path):
    from tasks.registry.versions import register_adapter

    cfg = load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])
    uri = str(cfg.mlflow.tracking_uri)
    versions = {}
    for i, base in enumerate(("/models/base-a", "/models/base-a", "/models/base-b"), 1):
        adapter = tmp_path / f"adapter{i}"
        adapter.mkdir()
        versions[i] = register_adapter(uri, "bot", f"run{i}", str(adapter), {"base_model": base, "lora_rank": 8})
    return uri, versions, cfg


def test_nobody_to_compare_with_until_there_is_a_champion_of_the_same_base(registry) -> None:
    from tasks.promotion.champion import head_to_head_champion
    from tasks.registry.versions import promote

    uri, v, _ = registry
    none = head_to_head_champion(uri, "bot", v[2])
    assert none["ref"] is None and "no champion yet" in none["reason"]
    promote(uri, "bot", v[1])
    found = head_to_head_champion(uri, "bot", v[2])
    assert (found["version"], found["ref"]) == (v[1], f"models:/bot/{v[1]}")
    itself = head_to_head_champion(uri, "bot", v[1])
    assert itself["ref"] is None and "already is the champion" in itself["reason"]
    other_base = head_to_head_champion(uri, "bot", v[3])
    assert other_base["ref"] is None
    assert "/models/base-a" in other_base["reason"] and "/models/base-b" in other_base["reason"]


def test_champion_task_respects_head_to_head_off(registry) -> None:
    from configs.promotion import PromotionConfig
    from tasks.promotion.tasks import champion_task
    from tasks.registry.versions import promote

    uri, v, _ = registry
    promote(uri, "bot", v[1])
    assert champion_task.fn(uri, "bot", v[2], PromotionConfig())["version"] == v[1]
    off = champion_task.fn(uri, "bot", v[2], PromotionConfig(head_to_head=False))
    assert off["ref"] is None and "head_to_head is off" in off["reason"]


def test_the_candidate_version_carries_the_mode_champion_and_every_interval(registry) -> None:
    from tasks.promotion.gate import apply_decision, decide_head_to_head, failure_rate_check
    from tasks.promotion.head_to_head import build_comparison
    from tasks.registry.benchmark_tags import record_benchmark
    from tasks.registry.versions import client_for

    uri, v, cfg = registry
    c = build_comparison(quality_rows(24, {"champion": {1}, "tuned": {1, 2}}), latency_rows(32, 1.0), cfg.promotion,
                         champion="bot-v1", candidate="bot-v2", champion_version=v[1], candidate_version=v[2])
    decision = decide_head_to_head(c, failure_rate_check(0, 32, cfg.promotion))
    out = apply_decision(decision, uri, "bot", v[2], cfg.promotion)
    out.update(champion_version=v[1], comparison_file="/x/comparison.json")
    record_benchmark(uri, "bot", v[2], {"result_file": "/x/result.json"}, out)
    tags = client_for(uri).get_model_version("bot", v[2]).tags
    assert (tags["gate_mode"], tags["gate_champion_version"], tags["gate_comparison_file"]) == (
        "head_to_head", v[1], "/x/comparison.json")
    assert tags["gate_passed"] == str(decision.passed) and tags["gate_quality_items"] == "24"
    for m in c.metrics:
        tag = json.loads(tags[f"h2h_{m.metric}"])
        assert tag == {"estimate": m.estimate, "low": m.low, "high": m.high, "bound": m.bound, "verdict": m.verdict}
