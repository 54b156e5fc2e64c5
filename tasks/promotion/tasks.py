"""Thin Prefect tasks around the promotion gate and the head-to-head comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from configs.benchmark import BenchmarkConfig
from configs.promotion import PromotionConfig


@task(name="champion-for-comparison", retries=2, retry_delay_seconds=[2, 10])
def champion_task(tracking_uri: str, name: str, candidate_version: str, promotion: PromotionConfig) -> dict[str, Any]:
    """The champion to compare with head to head: {"version", "ref", "reason"} (None: nobody)."""
    from tasks.promotion.champion import head_to_head_champion

    if not promotion.head_to_head:
        return {"version": None, "ref": None, "reason": "promotion.head_to_head is off: the absolute thresholds apply"}
    return head_to_head_champion(tracking_uri, name, candidate_version, promotion.alias)


@task(name="head-to-head")
def head_to_head_task(promotion: PromotionConfig, bench: BenchmarkConfig, base_url: str, champion: str,
                      candidate: str, out_dir: str, quality_items_file: str | None, log_dir: str | None = None,
                      champion_version: str | None = None, candidate_version: str | None = None,
                      api_key: str | None = None) -> dict[str, Any]:
    """The interleaved latency run and the paired bootstrap; writes comparison.json/.md/.png."""
    from tasks.promotion.head_to_head_run import Contenders, run_head_to_head

    who = Contenders(base_url, champion, candidate, champion_version, candidate_version)
    return run_head_to_head(promotion, bench, who, Path(out_dir), log_dir=log_dir, api_key=api_key,
                            quality_items_file=Path(quality_items_file) if quality_items_file else None)


@task(name="promotion-gate")
def promotion_gate_task(result_file: str, promotion: PromotionConfig, tracking_uri: str, name: str, version: str,
                        champion_quality: float | None = None, comparison_file: str | None = None,
                        log_dir: str | None = None, champion_version: str | None = None,
                        capacity: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the benchmark result (and the head-to-head comparison, when there is one), decide,
    promote on pass, write the `promotion_decision` event; returns passed/failed/summary/mode."""
    from tasks.benchmark.results import read_result
    from tasks.promotion.decision_log import log_decision
    from tasks.promotion.gate import apply_decision, decide
    from tasks.promotion.head_to_head import read_comparison

    result = read_result(Path(result_file))
    comparison = read_comparison(Path(comparison_file)) if comparison_file else None
    out = apply_decision(decide(result, promotion, champion_quality, comparison, capacity), tracking_uri, name,
                         version, promotion)
    out.update(champion_version=champion_version, comparison_file=comparison_file)
    log_decision(out, log_dir, model_name=name, version=version, champion_version=champion_version)
    return out
