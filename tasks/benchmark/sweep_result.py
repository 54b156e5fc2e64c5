"""A capacity sweep's result as one typed value, its JSON and its one-line-per-step progress.

JSON: `max_rate_meeting_slo` (requests/s, null when no rate met the SLO), `bound` (how to read
it), `stop_reason`, the SLOs and attainment target, the search settings, and `rows`: one per rate
tried, in the order tried, each the flat metrics of that run (`BenchmarkResult.flat()` keys)
plus `slo_attainment`, `meets_slo`, `saturated`, `saturation` (why) and `verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from configs.errors import BenchmarkError
from tasks.benchmark.results import read_typed, write_json

# How to read `max_rate_meeting_slo`:
BRACKETED = "bracketed"      # it met the SLO and the first failing rate tried above it did not
LOWER_BOUND = "lower_bound"  # it met the SLO but nothing above it was measured (max rate, or the client fell behind)
NONE_FOUND = "none"          # no rate tried met the SLO
BOUNDS = (BRACKETED, LOWER_BOUND, NONE_FOUND)

PASS, MISS, SATURATED, CLIENT_LIMITED = "pass", "miss", "saturated", "client-limited"


@dataclass(frozen=True)
class Saturation:
    """Post-hoc signs, from one step's requests, that it could not be sustained: `kind` is
    "server" (queue growing: TTFT rising through the step, requests piling up in flight) or
    "client" (send lag piling up: the load generator fell behind its schedule), None if neither."""

    kind: str | None
    reason: str | None
    service_time_ms: float | None      # median E2EL of requests sent to an idle server: the unqueued service time
    ttft_first_quarter_ms: float | None
    ttft_last_quarter_ms: float | None
    in_flight_last_quarter: float      # mean requests outstanding over the last quarter of the schedule
    in_flight_expected: float
    send_lag_last_quarter_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SweepStep:
    """One rate tried: the run's flat metrics and the verdict on it."""

    step: int
    request_rate_per_s: float = field(metadata={"key": "request_rate"})
    slo_attainment: float
    meets_slo: bool
    saturation: Saturation
    metrics: dict[str, Any]  # BenchmarkResult.flat() of the step's run

    @property
    def saturated(self) -> bool:
        return self.saturation.kind is not None

    @property
    def passed(self) -> bool:
        """Meets the SLO and can be sustained (a saturated step's latency only grows with time)."""
        return self.meets_slo and not self.saturated

    @property
    def verdict(self) -> str:
        if self.saturation.kind == "client":
            return CLIENT_LIMITED
        if self.saturated:
            return SATURATED
        return PASS if self.meets_slo else MISS

    def metric(self, key: str) -> Any:
        return self.metrics.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {**self.metrics, "step": self.step, "request_rate": self.request_rate_per_s,
                "slo_attainment": self.slo_attainment, "meets_slo": self.meets_slo, "saturated": self.saturated,
                "saturation": self.saturation.to_dict(), "verdict": self.verdict}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepStep:
        own = {"step", "request_rate", "slo_attainment", "meets_slo", "saturated", "saturation", "verdict"}
        return cls(step=int(_need(d, "step")), request_rate_per_s=float(_need(d, "request_rate")),
                   slo_attainment=float(_need(d, "slo_attainment")), meets_slo=bool(_need(d, "meets_slo")),
                   saturation=Saturation(**_need(d, "saturation")),
                   metrics={k: v for k, v in d.items() if k not in own} | {"request_rate": d["request_rate"]})


@dataclass(frozen=True)
class SweepResult:
    """The whole sweep. `max_rate_meeting_slo_per_s` is the highest rate whose step passed;
    `min_rate_missing_slo_per_s` the lowest tried above it that did not (None when none was)."""

    max_rate_meeting_slo_per_s: float | None = field(metadata={"key": "max_rate_meeting_slo"})
    min_rate_missing_slo_per_s: float | None = field(metadata={"key": "min_rate_missing_slo"})
    bound: str
    stop_reason: str
    slos_ms: dict[str, float]
    attainment_target: float = field(metadata={"key": "attainment"})
    model_id: str
    base_url: str
    date: str
    settings: dict[str, Any]  # the CapacityConfig, as JSON
    rows: tuple[SweepStep, ...]

    def summary(self) -> str:
        """The answer in one sentence, saying how to read it."""
        slos = ", ".join(f"{k} <= {v:g} ms" for k, v in self.slos_ms.items())
        goal = f"{self.attainment_target:.1%} of requests meeting {slos}"
        if self.max_rate_meeting_slo_per_s is None:
            return f"no rate tried met the SLO ({goal}): {self.stop_reason}"
        rate = f"{self.max_rate_meeting_slo_per_s:.3g} requests/s"
        if self.bound == LOWER_BOUND:
            return f"capacity at least {rate} ({goal}; a lower bound: {self.stop_reason})"
        above = self.min_rate_missing_slo_per_s
        missed = f"; {above:.3g} requests/s did not" if above is not None else ""
        return f"capacity {rate} ({goal}{missed}; {self.stop_reason})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.metadata.get("key", f.name)] = [r.to_dict() for r in value] if f.name == "rows" else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepResult:
        kw = {f.name: _need(d, f.metadata.get("key", f.name)) for f in fields(cls)}
        kw["rows"] = tuple(SweepStep.from_dict(r) for r in kw["rows"])
        if kw["bound"] not in BOUNDS:
            raise BenchmarkError(f"sweep result bound {kw['bound']!r} is not one of {BOUNDS}")
        return cls(**kw)


def _need(d: dict[str, Any], key: str) -> Any:
    try:
        return d[key]
    except KeyError:
        raise BenchmarkError(f"sweep result has no {key!r}; is it a file written by `mlops bench sweep`?") from None


def step_line(step: SweepStep) -> str:
    """The progress line of one step: rate, requests, attainment, p50/p99 TTFT, verdict (and why)."""
    p50 = step.metric("p50_ttft_ms") if step.metric("p50_ttft_ms") is not None else step.metric("median_ttft_ms")
    why = f" ({step.saturation.reason})" if step.saturation.reason else ""
    return (f"step {step.step}: {step.request_rate_per_s:8.3g} req/s  {step.metric('num_prompts'):5d} requests  "
            f"attainment {step.slo_attainment:7.2%}  TTFT p50 {_ms(p50)} p99 {_ms(step.metric('p99_ttft_ms'))}  "
            f"{step.verdict}{why}")


def _ms(value: float | None) -> str:
    return f"{value:8.1f} ms" if value is not None else "       - ms"


def write_sweep(result: SweepResult, path: Path) -> Path:
    return write_json(result.to_dict(), path)


def read_sweep(path: Path) -> SweepResult:
    """A sweep JSON back as the typed value; a file that is not one is named, not a traceback."""
    return read_typed(path, "sweep result", SweepResult.from_dict)
