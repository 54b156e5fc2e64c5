"""The gate in head-to-head mode: each compared metric's verdict is a check, the candidate's
failure rate still counts, the absolute p99 bound does not; the decision reaches the log
event, the registry tags and the report as the comparison computed it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs.promotion import PromotionConfig
from tasks.promotion.gate import HEAD_TO_HEAD, apply_decision, decide
from tasks.promotion.head_to_head import build_comparison, write_comparison
from tests.unit.benchmark.results_factory import make_result
from tests.unit.promotion.h2h_rows import latency_rows, quality_rows

CFG = PromotionConfig(max_p99_ttft_ms=50, max_failure_rate=0.02)
SLOW_BUT_FINE = {"completed": 100, "failed": 0, "ttft_s": 0.9, "quality": 0.5}  # p99 900 ms > 50 ms


def _comparison(wrong_champion: set[int], wrong_candidate: set[int], ratio: float, n: int = 48):
    rows = quality_rows(n, {"champion": wrong_champion, "tuned": wrong_candidate, "base": set(range(n))})
    return build_comparison(rows, latency_rows(64, ratio), CFG, champion="bot-v3", candidate="bot-v4",
                            champion_version="3", candidate_version="4")


def test_an_equal_candidate_passes_head_to_head_whatever_the_absolute_p99() -> None:
    c = _comparison({1, 5, 9}, {1, 5, 9}, 1.0)
    d = decide(make_result(**SLOW_BUT_FINE), CFG, champion_quality=0.9, comparison=c)
    assert d.passed and d.mode == HEAD_TO_HEAD and d.comparison is c
    names = [ch.name for ch in d.checks]
    assert names == ["failure_rate"] + [m.metric for m in c.metrics]
    assert "p99_ttft_ms" not in names and "quality" not in names  # the champion beside it is the reference
    assert "head to head" in d.summary()


def test_a_clearly_worse_candidate_is_rejected_and_each_failed_metric_is_named() -> None:
    c = _comparison(set(), set(range(0, 48, 2)), 1.0)  # wrong on half the items
    d = decide(make_result(**SLOW_BUT_FINE), CFG, None, comparison=c)
    assert not d.passed and "exact_match" in d.failed
    check = next(ch for ch in d.checks if ch.name == "exact_match")
    m = c.metric("exact_match")
    assert check.value == m.estimate and check.threshold == m.bound and m.verdict == "worse"
    assert f"{m.estimate:+.4f} [{m.low:+.4f}, {m.high:+.4f}]" in d.summary()
    out = apply_decision(d, "uri", "bot", 4, CFG, promote=lambda *a, **k: pytest.fail("must not promote"))
    assert out["promoted"] is False and out["mode"] == HEAD_TO_HEAD
    assert out["comparison"]["metrics"][0]["metric"] == c.metrics[0].metric


def test_a_slower_candidate_fails_on_latency_only() -> None:
    c = _comparison({2}, {2}, 1.5)
    d = decide(make_result(**SLOW_BUT_FINE), CFG, None, comparison=c)
    assert not d.passed
    assert d.failed and all(name.endswith(("_ttft", "_tpot", "_e2el")) for name in d.failed)
    assert all(c.metric(name).verdict == "worse" for name in d.failed)


def test_failures_still_reject_a_candidate_that_compares_well() -> None:
    c = _comparison(set(), set(), 1.0)
    d = decide(make_result(completed=90, failed=10, ttft_s=0.01, quality=0.5), CFG, None, comparison=c)
    assert not d.passed and d.failed == ["failure_rate"]


def test_gate_task_reads_the_comparison_file_and_logs_the_decision(tmp_path: Path, monkeypatch) -> None:
    from tasks.benchmark.results import write_result
    from tasks.promotion.tasks import promotion_gate_task

    c = _comparison({1}, {1}, 1.0)
    result = write_result(make_result(**SLOW_BUT_FINE), tmp_path / "result.json")
    comparison = write_comparison(c, tmp_path / "comparison.json")
    promoted = []
    # the registry itself is tested in test_champion_lookup.py
    monkeypatch.setattr("tasks.registry.versions.promote", lambda *a, **k: promoted.append(a))
    out = promotion_gate_task.fn(str(result), CFG, "uri", "bot", "4", None, str(comparison), str(tmp_path), "3")
    assert out["passed"] and out["promoted"] and promoted == [("uri", "bot", "4")]
    assert out["comparison_file"] == str(comparison) and out["champion_version"] == "3"
    (line,) = [json.loads(x) for f in (tmp_path / "system").glob("*.log") for x in f.read_text().splitlines()]
    assert (line["mode"], line["passed"], line["champion_version"], line["metrics_compared"], line["level"]) == (
        "head_to_head", True, "3", len(c.metrics), "INFO")
    assert (line["quality_items"], line["latency_requests"], line["metrics_worse"]) == (48, 64, 0)


def test_an_advisory_metric_is_shown_with_its_verdict_but_does_not_decide() -> None:
    from tasks.promotion.comparison_report import comparison_markdown

    cfg = CFG.model_copy(update={"advisory_metrics": ("p95_ttft", "median_ttft")})
    rows = quality_rows(24, {"champion": {1}, "tuned": {1}})
    slow = build_comparison(rows, latency_rows(64, 1.5), cfg, champion="bot-v3", candidate="bot-v4",
                            champion_version="3", candidate_version="4")
    ttft = slow.metric("p95_ttft")
    assert ttft.advisory and ttft.verdict == "worse" and not ttft.passed   # the verdict is still the truth
    assert "p95_ttft" not in slow.failed and "median_e2el" in slow.failed  # the deciding ones still decide
    d = decide(make_result(**SLOW_BUT_FINE), cfg, None, comparison=slow)
    assert "p95_ttft" not in d.failed and not d.passed
    assert "worse (advisory)" in comparison_markdown(slow)
    only_advisory = build_comparison(None, latency_rows(64, 1.0), CFG.model_copy(update={
        "advisory_metrics": tuple(f"{s}_{m}" for s in ("median", "p95") for m in ("ttft", "tpot", "e2el"))}),
        champion="a", candidate="b", champion_version="1", candidate_version="2")
    assert not only_advisory.passed
    assert decide(make_result(**SLOW_BUT_FINE), CFG, None, only_advisory).failed == ["head_to_head"]
