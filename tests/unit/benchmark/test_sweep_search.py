"""The rate search on its own: a fake `measure` (the collaborator) whose verdict is a known
threshold, so where the search goes and what it reports can be checked exactly; and the search
plus the real saturation judge against a simulated fixed-slot server over many seeds."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from pydantic import ValidationError

from configs.capacity import CapacityConfig
from tasks.benchmark.bench import request_record
from tasks.benchmark.client import RequestOutput
from tasks.benchmark.runner import plan_send_times
from tasks.benchmark.sweep_result import BRACKETED, LOWER_BOUND, NONE_FOUND, Saturation, SweepStep
from tasks.benchmark.sweep_saturation import detect_saturation
from tasks.benchmark.sweep_search import search_capacity

_CALM = Saturation(None, None, 100.0, 20.0, 20.0, 1.0, 1.0, 0.1)


def _threshold(capacity: float, client_limit: float = math.inf):
    """A measure that passes exactly the rates <= capacity; the client falls behind above client_limit."""
    tried: list[float] = []

    def measure(rate: float, step: int) -> SweepStep:
        tried.append(rate)
        sat = _CALM if rate <= client_limit else Saturation("client", "fell behind", None, None, None, 0.0, 0.0, 99.0)
        return SweepStep(step, rate, 1.0 if rate <= capacity else 0.5, rate <= capacity, sat, {"num_prompts": 10})

    return measure, tried


def _cap(**kw) -> CapacityConfig:
    return CapacityConfig(**{"slo_ttft_ms": 100.0, "start_rate_per_s": 1.0, "max_rate_per_s": 64.0, **kw})


def test_steps_up_then_narrows_to_the_resolution() -> None:
    measure, tried = _threshold(capacity=11.0)
    out = search_capacity(_cap(resolution=0.1), measure)
    assert tried[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]           # up x2 until the first miss
    assert all(8.0 < r < 16.0 for r in tried[5:])              # then only between pass and fail
    assert out.bound == BRACKETED and "resolution" in out.stop_reason
    assert out.passing_rate_per_s <= 11.0 < out.failing_rate_per_s <= out.passing_rate_per_s * 1.1
    assert [s.request_rate_per_s for s in out.rows] == tried   # one row per rate, in the order tried


def test_nothing_above_a_failing_rate_is_tried() -> None:
    measure, tried = _threshold(capacity=5.0)
    search_capacity(_cap(), measure)
    first_fail = next(r for r in tried if r > 5.0)
    assert max(tried) == first_fail


def test_a_saturated_step_meeting_the_slo_is_not_a_pass_and_stops_the_climb() -> None:
    """A short step can meet the SLO while its queue grows: from 16 req/s on, it is saturated."""
    tried: list[float] = []

    def measure(rate: float, step: int) -> SweepStep:
        tried.append(rate)
        sat = _CALM if rate < 16 else Saturation("server", "TTFT grew", 100.0, 20.0, 900.0, 30.0, 1.6, 0.1)
        return SweepStep(step, rate, 1.0, True, sat, {})

    out = search_capacity(_cap(), measure)
    assert max(tried) == 16.0 and out.rows[4].verdict == "saturated" and not out.rows[4].passed
    assert 8.0 <= out.passing_rate_per_s < 16.0 and out.bound == BRACKETED


def test_max_rate_passing_is_a_lower_bound() -> None:
    measure, tried = _threshold(capacity=1000.0)
    out = search_capacity(_cap(max_rate_per_s=10.0), measure)
    assert tried == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert (out.bound, out.passing_rate_per_s, out.failing_rate_per_s) == (LOWER_BOUND, 10.0, None)


def test_first_step_failing_steps_down() -> None:
    measure, tried = _threshold(capacity=0.7)
    out = search_capacity(_cap(start_rate_per_s=4.0, min_rate_per_s=0.1), measure)
    assert tried[:4] == [4.0, 2.0, 1.0, 0.5]
    assert out.bound == BRACKETED and out.passing_rate_per_s <= 0.7 < out.failing_rate_per_s


def test_none_found_down_to_the_min_rate() -> None:
    measure, tried = _threshold(capacity=0.01)
    out = search_capacity(_cap(start_rate_per_s=1.0, min_rate_per_s=0.3), measure)
    assert tried == [1.0, 0.5, 0.3]
    assert out.bound == NONE_FOUND and out.passing_rate_per_s is None and "min rate" in out.stop_reason


def test_client_falling_behind_makes_the_answer_a_lower_bound() -> None:
    measure, _ = _threshold(capacity=1000.0, client_limit=20.0)
    out = search_capacity(_cap(), measure)
    assert out.bound == LOWER_BOUND and out.passing_rate_per_s <= 20.0
    assert "client could send" in out.stop_reason


def test_max_steps_caps_the_search() -> None:
    measure, tried = _threshold(capacity=11.0)
    out = search_capacity(_cap(max_steps=6, resolution=0.01), measure)
    assert len(tried) == 6 and out.bound == BRACKETED and "max_steps" in out.stop_reason


@pytest.mark.parametrize("kw, field", [({"slo_ttft_ms": None}, "SLO"),
                                       ({"start_rate_per_s": 100.0}, "start_rate_per_s"),
                                       ({"attainment": 1.5}, "attainment"), ({"growth_factor": 1.0}, "growth_factor")])
def test_config_rejects_what_cannot_be_searched(kw: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        _cap(**kw)


def test_config_slos_and_from_slos() -> None:
    cap = CapacityConfig.from_slos({"ttft": 200.0, "e2el": 900.0})
    assert cap.slos_ms() == {"ttft": 200.0, "e2el": 900.0} and cap.slo_tpot_ms is None


# --- the search and the real saturation judge against a simulated server -----------------------

def _simulated_step(rate: float, n: int, seed: int, slots: int, service_s: float, ttft_s: float):
    """Records of one open-loop step against `slots` FIFO slots of fixed service time, with the
    planner's own arrivals and a little random overhead (loopback, event loop), made by the
    production `request_record` from `RequestOutput`s."""
    rng = np.random.default_rng(seed * 7919 + n)
    free = [0.0] * slots
    records = []
    for i, planned in enumerate(plan_send_times(n, rate, 1.0, seed)):
        overhead = rng.exponential(0.002)
        start = max(planned + overhead, heapq.heappop(free))
        end = start + service_s + rng.exponential(0.002)
        heapq.heappush(free, end)
        out = RequestOutput(request_id=str(i), success=True, planned_s=float(planned), ttft=start - planned + ttft_s,
                            latency=end - planned, output_tokens=5, prompt_tokens=7)
        records.append(request_record(out))
    return records


def test_search_on_a_simulated_slot_server_stays_in_the_band() -> None:
    """4 slots x 100 ms = 40 req/s; SLO TTFT 500 ms at 99%, 3 s steps: the sweep the stub test runs.
    Over 100 seeds (different Poisson arrivals) the answer stays within [0.7, 1.4] x the truth,
    the band tests/unit/benchmark/test_sweep_stub.py states (300 seeds gave 0.80 ... 1.35)."""
    cap = _cap(slo_ttft_ms=500.0, start_rate_per_s=8.0, max_rate_per_s=128.0, duration_s=3.0, min_requests=20)
    found = []
    for seed in range(100):
        def measure(rate: float, step: int, seed: int = seed) -> SweepStep:
            n = max(cap.min_requests, math.ceil(rate * cap.duration_s))
            records = _simulated_step(rate, n, seed, slots=4, service_s=0.1, ttft_s=0.02)
            attainment = sum(r.ttft_ms <= 500.0 for r in records) / n
            return SweepStep(step, rate, attainment, attainment >= cap.attainment,
                             detect_saturation(records, rate, cap), {})

        found.append(search_capacity(cap, measure).passing_rate_per_s / 40.0)
    assert 0.7 <= min(found) and max(found) <= 1.4, (min(found), max(found))
    assert 0.9 <= float(np.median(found)) <= 1.15


def test_saturation_names_whose_limit_it_is() -> None:
    cap = _cap()
    over = _simulated_step(80.0, 240, seed=1, slots=4, service_s=0.1, ttft_s=0.02)      # 2x the 40 req/s
    under = _simulated_step(20.0, 60, seed=1, slots=4, service_s=0.1, ttft_s=0.02)      # 0.5x
    assert detect_saturation(over, 80.0, cap).kind == "server"
    assert detect_saturation(under, 20.0, cap).kind is None
    late = [request_record(RequestOutput(request_id=str(i), success=True, planned_s=i / 20, send_lag=i * 0.005,
                                         ttft=0.02, latency=0.1, output_tokens=5)) for i in range(60)]
    client = detect_saturation(late, 20.0, cap)                                          # lag grows to 300 ms
    assert client.kind == "client" and "client fell behind" in client.reason
