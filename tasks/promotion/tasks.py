"""Thin Prefect task around the promotion gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from configs.promotion import PromotionConfig


@task(name="promotion-gate")
def promotion_gate_task(result_file: str, promotion: PromotionConfig, tracking_uri: str, name: str, version: str,
                   champion_quality: float | None = None) -> dict[str, Any]:
    """Read a benchmark result JSON, decide, promote on pass; returns passed/failed/summary."""
    from tasks.benchmark.results import read_result
    from tasks.promotion.gate import apply_decision, decide

    result = read_result(Path(result_file))
    return apply_decision(decide(result, promotion, champion_quality), tracking_uri, name, version, promotion)
