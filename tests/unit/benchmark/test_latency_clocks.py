"""Whose time is it: a client late by a known amount, checked against the server's own truth.

The stub (its own process) records when it read each request and wrote its first and last
token (`GET /truth`). The client is made late on purpose: its first `on_start` blocks the event
loop for LATE_MS, so every request of the burst leaves at least that late. The vLLM-compatible
numbers (`ttft`, `e2el`, `*_ttft_ms`) must then stay at the server's truth plus the loopback,
the schedule-based ones (`*_sched_*`) must carry the lateness, and goodput must judge the former
(as vLLM's does). Before the split, TTFT counted from the planned send time and carried it.
"""

from __future__ import annotations

import math
import time

import pytest

from tasks.benchmark.bench import request_record
from tasks.benchmark.client import RequestInput
from tasks.benchmark.metrics import calculate_metrics
from tasks.benchmark.results import BenchmarkMetrics
from tasks.benchmark.runner import LoadShape, run_load_sync
from testkit.truth import fetch_truth

LATE_MS = 100.0
# What the client and the loopback may add to the server's truth: a few ms, but a loaded 2-core
# machine opening the burst's connections right after the stall has shown 10 ms; still far
# below the lateness, which is what must not be charged.
SLACK_MS = 30.0
EARLY_MS = 2.0
TTFT_MS, ITL_MS, TOKENS = 30.0, 5.0, 4


def _late_run(stub_url: str, tag: str) -> tuple[list, BenchmarkMetrics]:
    stub = {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "output_tokens": TOKENS}
    inputs = [RequestInput(f"late-{tag}-{i}", f"prompt {i}", TOKENS, {"stub": stub}) for i in range(4)]
    blocked = []

    def on_start(req: RequestInput) -> None:
        if not blocked:
            blocked.append(req.request_id)
            time.sleep(LATE_MS / 1000.0)  # the whole client stalls (as a GC pause or a slow log write would)

    shape = LoadShape(base_url=stub_url, model="stub-model", request_rate=math.inf)
    outs, duration = run_load_sync(shape, inputs, on_start=on_start)
    return outs, calculate_metrics(outs, duration, goodput_slos_ms={"ttft": TTFT_MS + 2 * SLACK_MS})


def test_actual_send_latency_matches_the_servers_truth_and_the_schedule_based_one_carries_the_lateness(
        stub_url: str) -> None:
    outs, m = _late_run(stub_url, "a")
    truth = fetch_truth(stub_url)
    assert m.completed == 4
    for o in outs:
        t = truth[o.request_id]
        rec = request_record(o)
        assert o.send_lag * 1000 >= LATE_MS - 1, o                       # it was late, and that was measured
        # ours (vLLM's definition) vs the truth; the stub stamps a token just after writing it, so
        # a stub descheduled in between stamps it after the client read it: EARLY_MS below
        assert t.ttft_ms - EARLY_MS <= o.ttft * 1000 <= t.ttft_ms + SLACK_MS
        assert t.e2el_ms - EARLY_MS <= o.latency * 1000 <= t.e2el_ms + SLACK_MS
        assert rec.ttft_ms is not None and rec.ttft_ms <= t.ttft_ms + SLACK_MS
        # schedule-based: what a user would have seen, the client's stall included
        assert rec.ttft_ms + rec.send_lag_ms >= t.ttft_ms + LATE_MS - 1
    assert m.sched_ttft is not None and m.sched_e2el is not None
    assert m.ttft.p99_ms <= TTFT_MS + SLACK_MS < TTFT_MS + LATE_MS - 1 <= m.sched_ttft.median_ms
    assert m.sched_e2el.median_ms >= m.e2el.median_ms + LATE_MS - 1


def test_goodput_judges_the_actual_send_latency_as_vllm_does(stub_url: str) -> None:
    _, m = _late_run(stub_url, "g")
    assert m.goodput is not None and m.goodput.good_requests == 4   # the server met the SLO; the client was late


def test_result_json_names_both_and_reads_back(stub_url: str) -> None:
    _, m = _late_run(stub_url, "j")
    d = m.to_dict()
    for stat in ("mean", "median", "std", "p99"):
        assert d[f"{stat}_ttft_ms"] == getattr(m.ttft, f"{stat}_ms" if stat != "p99" else "p99_ms")
        assert f"{stat}_sched_ttft_ms" in d and f"{stat}_sched_e2el_ms" in d
    assert not any("sched" in k and ("tpot" in k or "itl" in k) for k in d)   # they do not depend on the start
    assert BenchmarkMetrics.from_dict(d) == m


def test_a_result_without_schedule_based_keys_reads_as_not_measured(stub_url: str) -> None:
    """vLLM's own result files (and ours from before the split) have no `*_sched_*` keys."""
    _, m = _late_run(stub_url, "v")
    d = {k: v for k, v in m.to_dict().items() if "sched" not in k}
    back = BenchmarkMetrics.from_dict(d)
    assert back.sched_ttft is None and back.sched_e2el is None and back.ttft == m.ttft
    assert back.to_dict() == d


def test_vllms_reading_of_our_file_gives_our_per_request_numbers(stub_url: str, tmp_path) -> None:
    """Our result carries vLLM's --save-detailed arrays (ttfts, itls, latencies, output_lens,
    errors) on the same clock as its keys, so a tool written for vLLM's files reads ours."""
    import json

    from configs.benchmark import BenchmarkConfig
    from tasks.benchmark.bench import run_benchmark
    from tasks.benchmark.vllm_result import vllm_samples

    cfg = BenchmarkConfig(num_prompts=8, max_tokens=4, request_rate=100)
    run_benchmark(cfg, stub_url, "stub-model", result_file=tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    samples, why = vllm_samples(data)
    assert why is None and len(data["latencies"]) == 8
    ok = [r for r in data["requests"] if r["success"]]
    assert samples["ttft"] == pytest.approx([r["ttft_ms"] for r in ok], abs=1e-3)
    assert samples["e2el"] == pytest.approx([r["e2el_ms"] for r in ok], abs=1e-3)
    assert samples["tpot"] == pytest.approx([r["tpot_ms"] for r in ok], abs=1e-3)
