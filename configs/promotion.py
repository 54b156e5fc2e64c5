"""Promotion section: what a candidate must meet to become `champion`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PromotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_p99_ttft_ms: float = Field(2000.0, gt=0)
    max_failure_rate: float = Field(0.05, ge=0, le=1)
    min_quality_vs_champion: float = Field(
        0.0, description="candidate quality must be >= champion quality + this (negative allows a small drop)")
    require_quality: bool = Field(True, description="fail when the benchmark has no quality score")
    alias: str = "champion"
