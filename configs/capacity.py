"""Capacity search: the highest request rate at which a share of requests meets every latency SLO.

Used by `mlops bench sweep`, the benchmark flow and the capacity gate; the search itself is
`tasks/benchmark/sweep.py`. Rates are requests/s, latencies ms, durations s.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CapacityConfig(BaseModel):
    """What "meets the SLO" means, where the rate search starts and stops, and when a step counts
    as saturated (the server or the client cannot keep up, so no higher rate is tried)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slo_ttft_ms: float | None = Field(None, gt=0, description="SLO: time to first token at most this many ms.")
    slo_tpot_ms: float | None = Field(None, gt=0, description="SLO: time per output token at most this many ms.")
    slo_e2el_ms: float | None = Field(None, gt=0, description="SLO: end-to-end latency at most this many ms.")
    attainment: float = Field(0.99, gt=0, le=1, description="Share of ALL requests of a step (failed ones count as "
                              "misses) that must meet every SLO for the rate to pass.")
    start_rate_per_s: float = Field(1.0, gt=0, description="First rate tried (requests/s).")
    max_rate_per_s: float = Field(64.0, gt=0, description="Highest rate tried (requests/s); passing it makes the "
                                  "answer a lower bound.")
    min_rate_per_s: float = Field(0.25, gt=0, description="Lowest rate tried when the start rate already fails "
                                  "(requests/s); below it the answer is 'none'.")
    growth_factor: float = Field(2.0, gt=1, description="Rate multiplier between steps while searching upwards "
                                 "(and divisor when stepping down).")
    resolution: float = Field(0.1, gt=0, description="Stop narrowing once the first failing rate is within this "
                              "share above the last passing one (0.1: fail/pass <= 1.1).")
    duration_s: float = Field(10.0, gt=0, description="Planned length of each step's open-loop run in seconds.")
    min_requests: int = Field(20, gt=0, description="Fewest timed requests per step (low rates run longer).")
    max_steps: int = Field(12, gt=0, description="Most rates tried in one sweep.")
    saturation_ttft_growth: float = Field(2.0, gt=1, description="A step is saturated (the queue grows) when the "
                                          "median TTFT of its last quarter of requests is this many times its "
                                          "first quarter's AND higher by more than "
                                          "saturation_ttft_rise_service_times service times.")
    saturation_ttft_rise_service_times: float = Field(3.0, gt=0, description="How much queueing (in service times: "
                                                      "the median end-to-end latency of the step's requests sent to an idle server) TTFT must "
                                                      "gain through a step to count as growing; bursts below "
                                                      "capacity gain less.")
    saturation_min_rise_ms: float = Field(50.0, ge=0, description="...and by at least this many ms: a smaller "
                                          "rise is scheduling noise on a loaded machine, not a queue.")
    saturation_backlog_factor: float = Field(6.0, gt=1, description="A step is saturated when the requests in flight "
                                             "(on average over its last quarter) exceed this many times the rate x "
                                             "service time (the median end-to-end latency of the step's requests sent to an idle server; Little's "
                                             "law for a server that keeps up), and at least 4 more.")
    saturation_send_lag_ms: float = Field(50.0, gt=0, description="The CLIENT cannot keep up (a step is saturated "
                                          "and the answer a lower bound) when the median send lag of a step's "
                                          "last quarter of requests exceeds this many ms.")

    @model_validator(mode="after")
    def _consistent(self) -> CapacityConfig:
        if not self.slos_ms():
            raise ValueError("give at least one SLO: slo_ttft_ms, slo_tpot_ms or slo_e2el_ms")
        if not self.min_rate_per_s <= self.start_rate_per_s <= self.max_rate_per_s:
            raise ValueError(f"rates must satisfy min_rate_per_s <= start_rate_per_s <= max_rate_per_s, got "
                             f"{self.min_rate_per_s:g}, {self.start_rate_per_s:g}, {self.max_rate_per_s:g}")
        return self

    def slos_ms(self) -> dict[str, float]:
        """{"ttft": ms, "tpot": ms, "e2el": ms} for the SLOs set (as `metrics.parse_goodput` gives)."""
        slos = {"ttft": self.slo_ttft_ms, "tpot": self.slo_tpot_ms, "e2el": self.slo_e2el_ms}
        return {k: v for k, v in slos.items() if v is not None}

    @classmethod
    def from_slos(cls, slos_ms: dict[str, float], **fields: object) -> CapacityConfig:
        """The config for `{"ttft": 500, ...}` (what `metrics.parse_goodput` returns) plus other fields."""
        return cls(**{f"slo_{name}_ms": ms for name, ms in slos_ms.items()}, **fields)
