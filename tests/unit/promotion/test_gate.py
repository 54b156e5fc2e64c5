"""The promotion gate: pass promotes to champion; fail says which threshold failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs.errors import BenchmarkError
from configs.promotion import PromotionConfig
from tasks.benchmark.results import write_result
from tasks.promotion.gate import apply_decision, decide
from tests.unit.benchmark.results_factory import make_result

GOOD = {"completed": 99, "failed": 1, "ttft_s": 0.300, "quality": 0.62}
CFG = PromotionConfig(max_p99_ttft_ms=500, max_failure_rate=0.02)


def test_pass_promotes_to_champion() -> None:
    calls = []
    d = decide(make_result(**GOOD), CFG, champion_quality=0.60)
    assert d.passed and d.failed == []
    out = apply_decision(d, "sqlite:///r.db", "bot", 4, CFG,
                         promote=lambda uri, name, version, alias: calls.append((uri, name, version, alias)))
    assert out["promoted"] is True and calls == [("sqlite:///r.db", "bot", 4, "champion")]


@pytest.mark.parametrize(("result", "champion", "failed", "text"), [
    ({**GOOD, "ttft_s": 0.900}, 0.6, ["p99_ttft_ms"], "p99 TTFT 900.0 ms > 500 ms"),
    ({**GOOD, "failed": 5, "completed": 95}, 0.6, ["failure_rate"], "failure rate 5.00% > 2.00%"),
    ({**GOOD, "quality": 0.55}, 0.6, ["quality"], "quality 0.5500 < champion 0.6000"),
    ({**GOOD, "quality": None}, 0.6, ["quality"], "no quality score"),
    ({"completed": 0, "failed": 10, "ttft_s": 0.0, "quality": 0.9}, None, ["p99_ttft_ms", "failure_rate"], "no successful"),
])
def test_fail_names_each_failed_threshold_and_does_not_promote(result, champion, failed, text) -> None:
    d = decide(make_result(**result), CFG, champion_quality=champion)
    assert not d.passed and d.failed == failed and text in d.summary()
    out = apply_decision(d, "uri", "bot", 4, CFG, promote=lambda *a, **k: pytest.fail("must not promote"))
    assert out["promoted"] is False and out["failed"] == failed


def test_first_model_without_champion_and_optional_quality() -> None:
    assert decide(make_result(**GOOD), CFG, champion_quality=None).passed
    assert decide(make_result(**{**GOOD, "quality": None}), PromotionConfig(require_quality=False), None).passed


def test_promotion_task_reads_result_file(tmp_path: Path) -> None:
    from tasks.promotion.tasks import promotion_gate_task

    path = write_result(make_result(**{**GOOD, "ttft_s": 5.0}), tmp_path / "result.json")
    out = promotion_gate_task.fn(str(path), CFG, "uri", "bot", "4", champion_quality=0.5, log_dir=str(tmp_path))
    assert out["promoted"] is False and out["failed"] == ["p99_ttft_ms"]
    (line,) = [json.loads(x) for f in (tmp_path / "system").glob("*.log") for x in f.read_text().splitlines()]
    assert line["message"] == "promotion_decision" and line["level"] == "WARNING"
    assert (line["passed"], line["mode"], line["failed_checks"], line["candidate_version"]) == (
        False, "absolute", "p99_ttft_ms", "4")


def test_promotion_task_names_a_file_that_is_not_a_result(tmp_path: Path) -> None:
    from tasks.promotion.tasks import promotion_gate_task

    path = tmp_path / "result.json"
    path.write_text('{"completed": 3}')
    with pytest.raises(BenchmarkError, match=r"result.json: benchmark result has no 'date'"):
        promotion_gate_task.fn(str(path), CFG, "uri", "bot", "4")
