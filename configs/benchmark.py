"""Benchmark section: load shape, SLOs for goodput, and the success threshold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class BenchmarkConfig(BaseModel):
    """One benchmark run against an OpenAI-compatible server (vLLM or the gateway).

    Open loop: send times are planned ahead (`request_rate` requests/s, gamma arrivals with
    shape `burstiness`; 1.0 is Poisson; `inf` sends all at once), latency counts from the
    planned time (or from when a `max_concurrency` slot frees up).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Literal["chat", "completions"] = "chat"
    num_prompts: int = Field(100, gt=0)
    request_rate: float = Field(math.inf, gt=0, description="requests per second; inf = all at once")
    burstiness: float = Field(1.0, gt=0, description="gamma shape; 1 = Poisson, <1 burstier, >1 steadier")
    max_concurrency: int | None = Field(None, gt=0)
    max_tokens: int = Field(64, gt=0)
    temperature: float = Field(0.0, ge=0)
    ignore_eos: bool = Field(False, description="vLLM extension: generate exactly max_tokens")
    warmup_requests: int = Field(1, ge=0)
    seed: int = 0
    dataset_path: Path | None = Field(None, description="JSONL with 'prompt' or 'messages' per line; default synthetic")
    request_timeout_s: float = Field(300.0, gt=0)
    min_success_rate: float = Field(0.95, ge=0, le=1)
    goodput_ttft_ms: float | None = Field(None, gt=0)
    goodput_tpot_ms: float | None = Field(None, gt=0)
    goodput_e2el_ms: float | None = Field(None, gt=0)
    percentiles: tuple[float, ...] = (50.0, 95.0, 99.0)
    eval_path: Path | None = Field(None, description="held-out eval JSONL for the quality score")
    eval_max_examples: int = Field(50, gt=0)

    @field_validator("percentiles")
    @classmethod
    def _percentiles_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [p for p in value if not 0 < p <= 100]
        if bad:
            raise ValueError(f"benchmark.percentiles must be in (0, 100], got {bad}")
        return value

    def goodput_slos_ms(self) -> dict[str, float]:
        slos = {"ttft": self.goodput_ttft_ms, "tpot": self.goodput_tpot_ms, "e2el": self.goodput_e2el_ms}
        return {k: v for k, v in slos.items() if v is not None}
