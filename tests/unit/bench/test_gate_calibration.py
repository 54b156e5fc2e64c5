"""bench/gate_calibration.py: the stub half run for real with --quick (the stub backend in its
own process, interleaved runs, both gates; no vLLM, no training), and the rate arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bench._calibration_gates import Outcome, candidate_result
from bench._calibration_stats import Rate, summarize, wilson
from bench.gate_calibration import main, parse_args
from tasks.benchmark.client import RequestInput, RequestOutput
from tasks.benchmark.interleaved import interleaved_row


def test_wilson_interval_of_zero_and_all_out_of_twenty() -> None:
    low, high = wilson(0, 20)
    assert low == 0.0 and high == pytest.approx(1.96 ** 2 / (20 + 1.96 ** 2), abs=1e-3)   # ~0.161
    low, high = wilson(20, 20)
    assert high == 1.0 and low == pytest.approx(1 - 0.1611, abs=1e-3)
    low, high = wilson(10, 20)
    assert low == pytest.approx(1 - high) and 0.29 < low < 0.31


def test_wilson_matches_scipy_where_available() -> None:
    stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 20), (1, 20), (7, 24), (19, 20), (3, 48)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-4)


def test_a_rate_outside_zero_to_n_is_refused() -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="n > 0"):
        wilson(0, 0)


def _outcome(scenario: str, run: int, new_passed: bool, worse: bool, old_passed: bool) -> Outcome:
    return Outcome(scenario, 12, run, new_passed, worse, () if new_passed else ("exact_match",), {}, old_passed, ())


def test_summary_counts_each_gate_per_scenario_and_size() -> None:
    outcomes = ([_outcome("A/A", i, i != 0, False, i % 2 == 0) for i in range(4)]
                + [_outcome("A/B", i, False, i < 3, True) for i in range(4)])
    aa, ab = summarize(outcomes)
    assert (aa.new_reject, aa.new_worse, aa.old_reject) == (Rate(1, 4), Rate(0, 4), Rate(2, 4))
    assert (ab.new_reject, ab.new_worse, ab.old_reject) == (Rate(4, 4), Rate(3, 4), Rate(0, 4))
    assert ab.reasons == {"exact_match": 4}
    assert (ab.by_quality, ab.by_latency, aa.by_latency) == (Rate(4, 4), Rate(0, 4), Rate(0, 4))


def test_old_gate_reads_the_candidates_side_of_the_interleaved_run() -> None:
    rows = []
    for i, (side, ttft_s) in enumerate([("champion", 0.9), ("candidate", 0.1), ("champion", 0.8),
                                        ("candidate", 0.3)]):
        out = RequestOutput(f"r{i}", success=True, status=200, ttft=ttft_s, latency=ttft_s + 0.15, output_tokens=4,
                            planned_s=0.01 * i)
        rows.append(interleaved_row(side, i // 2, RequestInput(f"r{i}", "p", 4, model=f"m-{side}"), out))
    result = candidate_result(rows, quality=0.5)
    assert result.metrics.completed == 2 and result.model_id == "m-candidate" and result.quality == 0.5
    assert 100.0 < result.metrics.ttft.p99_ms <= 300.0   # the champion's 800-900 ms are not the candidate's


def test_sizes_must_be_integers() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--sizes", "twelve"])
    with pytest.raises(SystemExit):
        parse_args(["--parts", "gpu"])


@pytest.fixture(scope="module")
def quick_stub(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list[str]]:
    out = tmp_path_factory.mktemp("calibration") / "calibration.json"
    lines: list[str] = []
    report = main(["--parts", "stub", "--quick", "--out", str(out)], progress=lines.append)
    return report, out, lines


def test_quick_stub_run_rejects_the_slow_candidate_far_more_often_than_its_twin(quick_stub) -> None:
    report, _, lines = quick_stub
    rows = {r["scenario"]: r for r in report["summary"]}
    aa, ab = rows["A/A latency"], rows["A/B latency"]
    assert aa["new_reject"]["n"] == ab["new_reject"]["n"] == 6
    assert ab["new_reject"]["k"] >= aa["new_reject"]["k"] + 3
    assert ab["new_worse"]["k"] >= 4
    assert ab["old_reject"]["k"] == 0   # a fixed p99 bound of seconds cannot see +12 ms on 40 ms
    assert any(line.startswith("A/B latency") and "right answer" not in line for line in lines)
    assert "new: rejects" in report["table"]


def test_quick_stub_json_has_every_decision_by_both_gates(quick_stub) -> None:
    _, out, _ = quick_stub
    data = orjson.loads(out.read_bytes())
    decisions = data["decisions"]
    assert len(decisions) == 12
    assert {(d["scenario"], d["run"]) for d in decisions} == {(s, r) for s in ("A/A latency", "A/B latency")
                                                                for r in range(6)}
    for d in decisions:
        assert isinstance(d["new"]["passed"], bool) and isinstance(d["old"]["passed"], bool)
        assert d.get("error") or set(d["new"]["verdicts"]) == {"median_ttft", "p95_ttft", "median_tpot", "p95_tpot",
                                                             "median_e2el", "p95_e2el"}
    assert [r["scenario"] for r in data["summary"]] == ["A/A latency", "A/B latency"]


def test_stub_ttft_jitter_spreads_each_requests_first_token() -> None:
    """The calibration's latency intervals need a server whose delays vary: sigma 0.5 around 30 ms
    spreads 16 requests' times over far more than a 1.8x range (expected ~5x)."""
    import time

    import httpx

    from testkit.stub_vllm import StubServer

    with pytest.raises(ValueError, match="sigma"):
        StubServer(ttft_jitter=-0.1)
    server = StubServer(ttft_ms=30.0, ttft_jitter=0.5, jitter_seed=3).start_in_thread()
    try:
        times = []
        with httpx.Client(trust_env=False, timeout=10) as client:
            for _ in range(16):
                t0 = time.perf_counter()
                resp = client.post(server.base_url + "/v1/completions",
                                   json={"model": "stub-model", "prompt": "hi", "max_tokens": 1})
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200
    finally:
        server.stop_thread()
    assert max(times) / min(times) > 1.8
