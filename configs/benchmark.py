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

    Each field is declared here once (type, default, bounds, description): the `benchmark`
    flow's parameters (`benchmark_request.py`) and `mlops bench`'s options (`flows/cli/bench.py`)
    are derived from these fields, so a new one is added here and named there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Literal["chat", "completions"] = Field(
        "chat", description="API to load: chat (/v1/chat/completions) or completions (/v1/completions).")
    num_prompts: int = Field(100, gt=0, description="Timed requests to send (after the warm-up).")
    request_rate: float = Field(math.inf, gt=0, description="Requests per second, planned open-loop; inf (or a very "
                                "large value) sends all at once.")
    burstiness: float = Field(1.0, gt=0, description="Gamma shape of arrivals: 1 = Poisson, <1 burstier, >1 steadier.")
    max_concurrency: int | None = Field(None, gt=0, description="Most requests in flight at once; none = no cap.")
    max_tokens: int = Field(64, gt=0, description="Completion tokens per request (max_tokens).")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature sent with every request.")
    ignore_eos: bool = Field(False, description="vLLM extension: generate exactly max_tokens.")
    warmup_requests: int = Field(1, ge=0, description="Untimed warm-up requests sent first.")
    seed: int = Field(0, description="Seeds the arrival times and the synthetic prompts.")
    dataset_path: Path | None = Field(None, description="JSONL prompts ('prompt' or 'messages' per line); "
                                      "none = seeded synthetic prompts.")
    request_timeout_s: float = Field(300.0, gt=0, description="Per-request timeout in seconds.")
    min_success_rate: float = Field(0.95, ge=0, le=1, description="Fail the run below this share of successful "
                                    "requests (after the result is written).")
    goodput_ttft_ms: float | None = Field(None, gt=0, description="SLO for goodput: TTFT at most this many ms.")
    goodput_tpot_ms: float | None = Field(None, gt=0, description="SLO for goodput: TPOT at most this many ms.")
    goodput_e2el_ms: float | None = Field(None, gt=0, description="SLO for goodput: end-to-end latency at most "
                                          "this many ms.")
    percentiles: tuple[float, ...] = Field((50.0, 95.0, 99.0), description="Latency percentiles to report "
                                           "(99 is always added).")
    eval_path: Path | None = Field(None, description="Held-out eval JSONL: also score the served model's quality "
                                   "with the training task's metric.")
    eval_max_examples: int = Field(50, gt=0, description="Most eval examples scored for quality.")
    eval_max_tokens: int | None = Field(None, gt=0, description="Completion tokens per eval answer for quality "
                                        "(a whole JSON record needs more than a load-test reply); none = max_tokens. "
                                        "A pipeline run uses eval.max_new_tokens, as the trainer's evaluation does.")

    @field_validator("percentiles")
    @classmethod
    def _percentiles_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [p for p in value if not 0 < p <= 100]
        if bad:
            raise ValueError(f"benchmark.percentiles must be in (0, 100], got {bad}")
        return value

    def quality_max_tokens(self) -> int:
        return self.eval_max_tokens or self.max_tokens

    def goodput_slos_ms(self) -> dict[str, float]:
        slos = {"ttft": self.goodput_ttft_ms, "tpot": self.goodput_tpot_ms, "e2el": self.goodput_e2el_ms}
        return {k: v for k, v in slos.items() if v is not None}


def bounds_text(name: str) -> str:
    """A field's bounds as people read them ("> 0", ">= 0, <= 1"; "" when unbounded), for help texts."""
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    parts = [f"{symbols[attr]} {getattr(m, attr):g}" for m in BenchmarkConfig.model_fields[name].metadata
             for attr in symbols if hasattr(m, attr)]
    return ", ".join(parts)
