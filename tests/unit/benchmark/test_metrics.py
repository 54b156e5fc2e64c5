"""Aggregation as vLLM defines it, on hand-made request outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from configs.errors import BenchmarkError
from tasks.benchmark.client import RequestOutput
from tasks.benchmark.metrics import calculate_metrics, parse_goodput
from tasks.benchmark.runner import plan_send_times


def _ok(rid: str, ttft: float, itl: list[float], out_tokens: int, prompt_tokens: int = 10) -> RequestOutput:
    return RequestOutput(rid, success=True, status=200, ttft=ttft, itl=itl, latency=ttft + sum(itl),
                         prompt_tokens=prompt_tokens, output_tokens=out_tokens, chunks=len(itl) + 1)


def test_vllm_definitions() -> None:
    outs = [
        _ok("a", 0.100, [0.010, 0.030], out_tokens=3),     # tpot = 0.040 / 2 = 20 ms
        _ok("b", 0.300, [0.020], out_tokens=5),            # tpot = 0.020 / 4 = 5 ms (tokens from usage)
        _ok("c", 0.200, [], out_tokens=1),                 # single token: no TPOT
        RequestOutput("d", success=False, status=500, error="HTTP 500: boom"),
    ]
    m = calculate_metrics(outs, duration_s=2.0)
    assert (m.completed, m.failed) == (3, 1)
    assert m.requests_per_s == pytest.approx(1.5)
    assert m.output_tokens_per_s == pytest.approx(9 / 2)
    assert m.total_tokens_per_s == pytest.approx((30 + 9) / 2)
    assert m.ttft.mean_ms == pytest.approx(200.0)
    assert m.ttft.median_ms == pytest.approx(200.0)
    assert m.tpot.mean_ms == pytest.approx(12.5)
    assert m.itl.mean_ms == pytest.approx(20.0)             # pooled gaps 10, 30, 20
    assert m.itl.p99_ms == pytest.approx(np.percentile([10, 30, 20], 99))
    assert m.e2el.mean_ms == pytest.approx((140 + 320 + 200) / 3)
    d = m.to_dict()                                          # the result JSON's (vLLM's) keys
    for key in ("std_ttft_ms", "p50_ttft_ms", "p95_ttft_ms", "p99_tpot_ms", "median_e2el_ms", "send_lag_p99_ms"):
        assert key in d
    assert (d["request_throughput"], d["mean_ttft_ms"]) == (m.requests_per_s, m.ttft.mean_ms)
    assert m.goodput is None and m.good_requests_per_s is None


def test_goodput_counts_requests_meeting_every_slo() -> None:
    outs = [_ok("a", 0.100, [0.010, 0.030], 3), _ok("b", 0.300, [0.020], 5), _ok("c", 0.050, [0.1], 2)]
    m = calculate_metrics(outs, 1.0, goodput_slos_ms={"ttft": 150, "tpot": 50})
    assert m.goodput is not None and m.goodput.good_requests == 1   # a (b: ttft too slow; c: tpot 100 ms)
    assert m.good_requests_per_s == pytest.approx(1.0)


def test_parse_goodput_names_the_bad_item() -> None:
    assert parse_goodput(["ttft:200 tpot:50", "e2el:1000"]) == {"ttft": 200.0, "tpot": 50.0, "e2el": 1000.0}
    with pytest.raises(ValueError, match="speed:1"):
        parse_goodput(["speed:1"])
    with pytest.raises(ValueError, match="not a number"):
        parse_goodput(["ttft:fast"])


def test_send_times_poisson_gamma_and_inf() -> None:
    assert plan_send_times(5, math.inf).tolist() == [0.0] * 5
    t = plan_send_times(20000, 100.0, 1.0, seed=3)
    gaps = np.diff(t)
    assert t[0] == 0.0 and np.all(gaps >= 0)
    assert gaps.mean() == pytest.approx(0.01, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)          # exponential: CV 1
    steady = np.diff(plan_send_times(20000, 100.0, 4.0, seed=3))
    assert steady.std() / steady.mean() == pytest.approx(0.5, rel=0.05)      # gamma k=4: CV 1/2
    assert np.array_equal(plan_send_times(50, 10.0, seed=7), plan_send_times(50, 10.0, seed=7))
    with pytest.raises(BenchmarkError):
        plan_send_times(0, 1.0)
