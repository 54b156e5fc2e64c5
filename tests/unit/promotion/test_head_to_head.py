"""From the head-to-head measurement files to one Comparison, every verdict by `judge`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from configs.errors import PromotionError
from configs.promotion import PromotionConfig
from tasks.benchmark.quality import write_items
from tasks.promotion.comparison import judge
from tasks.promotion.head_to_head import (build_comparison, compare_latency, compare_quality, read_comparison,
                                          read_rows, write_comparison)
from tasks.training.eval_metrics import summarize
from tests.unit.promotion.h2h_rows import latency_rows, quality_rows

CFG = PromotionConfig()
NAMES = {"champion": "bot-v3", "candidate": "bot-v4", "champion_version": "3", "candidate_version": "4"}


def _sides(rows, side):
    prefix = f"{side}_"
    return [{k[len(prefix):]: v for k, v in r.items() if k.startswith(prefix) and k != f"{side}_prediction"}
            for r in rows]


def test_quality_from_the_benchmark_file_compares_every_json_metric(tmp_path: Path) -> None:
    rows = quality_rows(150, {"champion": set(range(0, 150, 4)), "tuned": set(range(0, 150, 25)),
                              "base": set(range(150))})
    path = write_items(tmp_path / "quality_items.jsonl", rows)
    out = compare_quality(read_rows(path), CFG)
    assert [m.metric for m in out] == ["exact_match", "json_valid", "field_accuracy"]
    champion, candidate = summarize(_sides(rows, "champion")), summarize(_sides(rows, "tuned"))
    em = out[0]
    assert em.champion_value == pytest.approx(champion["exact_match"])
    assert em.candidate_value == pytest.approx(candidate["exact_match"])
    assert em.estimate == pytest.approx(candidate["exact_match"] - champion["exact_match"])
    assert em.verdict == "better" and em.passed and em.low > 0 and em.n == 150
    assert em.bound == -CFG.quality_margin
    for m in out:
        assert (m.verdict, m.passed) == judge(m.kind, m.low, m.high, m.bound)
        assert m.low <= m.estimate <= m.high and m.detectable >= 1 / 150


def test_a_clearly_worse_candidate_is_worse_and_a_small_eval_set_is_inconclusive() -> None:
    worse = compare_quality(quality_rows(200, {"champion": set(), "tuned": set(range(0, 200, 3))}), CFG)
    assert worse[0].verdict == "worse" and not worse[0].passed and worse[0].high < 0
    small = compare_quality(quality_rows(20, {"champion": {1, 5, 12}, "tuned": {1, 5, 9, 14}}), CFG)
    assert small[0].verdict == "inconclusive" and not small[0].passed
    assert small[0].low < -CFG.quality_margin and small[0].high > 0
    assert small[0].detectable > 0.1  # 20 items cannot see a 2-point drop


def test_text_references_compare_exact_match_only_and_the_margin_override_is_used() -> None:
    rows = quality_rows(60, {"champion": {0, 1}, "tuned": {0, 1}}, task="capitals")
    out = compare_quality(rows, PromotionConfig(margins={"exact_match": 0.05}))
    assert [m.metric for m in out] == ["exact_match"]
    assert out[0].bound == -0.05 and out[0].estimate == 0.0
    assert out[0].detectable == pytest.approx(1 / 60)  # identical scores: se 0, floored at one item
    assert out[0].verdict == "non-inferior"


def test_a_score_that_is_not_a_number_is_named() -> None:
    rows = quality_rows(10, {"champion": set(), "tuned": set()})
    rows[4]["tuned_field_accuracy"] = "high"
    with pytest.raises(PromotionError, match=r"row 4 tuned_field_accuracy: 'high' is not a number"):
        compare_quality(rows, CFG)
    latency = latency_rows(10, 1.0)
    latency[0]["ttft_ms"] = "fast"
    with pytest.raises(PromotionError, match=r"prompt \d+ ttft_ms: 'fast' is not a number"):
        compare_latency(latency, CFG)


def test_quality_without_the_champion_side_or_items_is_a_clear_error() -> None:
    rows = quality_rows(10, {"tuned": set(), "base": {1}})
    with pytest.raises(PromotionError, match=r"10 of 10 rows have no 'champion' side"):
        compare_quality(rows, CFG)
    with pytest.raises(PromotionError, match="no items to compare"):
        compare_quality([], CFG)
    only_text = quality_rows(10, {"champion": set(), "tuned": set()}, task="capitals")
    with pytest.raises(PromotionError, match="none of .*'json_valid'.* is scored on every item"):
        compare_quality(only_text, PromotionConfig(quality_metrics=("json_valid",)))


def test_latency_ratios_per_metric_and_statistic_in_order() -> None:
    cfg = PromotionConfig(margins={"p95_ttft": 1.25})
    same = compare_latency(latency_rows(300, 1.0, seed=1), cfg)
    assert [m.metric for m in same] == ["median_ttft", "p95_ttft", "median_tpot", "p95_tpot", "median_e2el",
                                        "p95_e2el"]
    assert same[1].bound == 1.25 and same[0].bound == cfg.latency_ratio_margin
    assert all(m.passed and m.verdict == "non-inferior" for m in same)
    slower = compare_latency(latency_rows(300, 1.3, seed=1), cfg)
    assert all(m.verdict == "worse" and not m.passed for m in slower)
    assert slower[0].estimate == pytest.approx(1.3, rel=0.03)
    for m in same + slower:
        assert (m.verdict, m.passed) == judge(m.kind, m.low, m.high, m.bound)
        assert m.estimate == pytest.approx(m.candidate_value / m.champion_value)


def test_failed_requests_drop_their_pair_and_one_token_answers_drop_tpot_only() -> None:
    rows = latency_rows(100, 1.0, failed=frozenset({3, 4}), one_token=frozenset(range(10, 20)))
    out = {m.metric: m for m in compare_latency(rows, CFG)}
    assert out["median_ttft"].n == out["p95_e2el"].n == 98
    assert out["median_tpot"].n == 88


def test_each_metric_gets_its_own_fixed_seed() -> None:
    """TTFT and E2EL equal on every request: the same estimate, differently resampled intervals."""
    rows = [{**r, "e2el_ms": r["ttft_ms"]} for r in latency_rows(120, 1.05, noise=0.2)]
    cfg = PromotionConfig(latency_metrics=("ttft", "e2el"), latency_stats=("median",))
    first, again = compare_latency(rows, cfg), compare_latency(rows, cfg)
    assert first == again
    ttft, e2el = first
    assert ttft.estimate == e2el.estimate and (ttft.low, ttft.high) != (e2el.low, e2el.high)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows + [dict(rows[0])], "was sent to the .* twice"),
    (lambda rows: [{**rows[0], "side": "base"}] + rows[1:], "side 'base'; expected one of"),
    (lambda rows: [{**r, "tpot_ms": None} for r in rows], "no prompt has a tpot from both sides.*drop 'tpot'"),
    (lambda rows: [{**r, "success": False} for r in rows], "no prompt has a ttft from both sides"),
    (lambda rows: [{**r, "tpot_ms": 0.0} for r in rows], "latency median_tpot: median ratio: the champion's median "
                                                        "is 0.*drop it from promotion.latency_metrics"),
])
def test_latency_rows_that_cannot_pair_are_a_clear_error(edit, message) -> None:
    with pytest.raises(PromotionError, match=message):
        compare_latency(edit(latency_rows(20, 1.0)), CFG)


def test_build_comparison_with_both_either_or_neither_input() -> None:
    quality = quality_rows(80, {"champion": {1, 2}, "tuned": {2}})
    latency = latency_rows(64, 1.0, failed=frozenset({0}))
    both = build_comparison(quality, latency, CFG, **NAMES)
    assert both.quality_items == 80 and both.latency_requests == 64
    assert both.metric("exact_match").n == 80 and both.metric("median_ttft").n == 63
    assert (both.resamples, both.seed, both.confidence) == (2000, 0, 0.95)
    assert len(both.metrics) == 3 + 6 and both.champion == "bot-v3" and both.candidate_version == "4"
    only_quality = build_comparison(quality, None, CFG, **NAMES)
    assert [m.kind for m in only_quality.metrics] == ["quality"] * 3 and only_quality.latency_requests == 0
    only_latency = build_comparison([], latency, CFG, **NAMES)
    assert {m.kind for m in only_latency.metrics} == {"latency"} and only_latency.quality_items == 0
    assert both.metrics == only_quality.metrics + only_latency.metrics  # a metric's seed is its own
    with pytest.raises(PromotionError, match="nothing to compare"):
        build_comparison(None, [], CFG, **NAMES)


def test_comparison_round_trips_through_json(tmp_path: Path) -> None:
    c = build_comparison(quality_rows(40, {"champion": {1}, "tuned": {2}}), latency_rows(30, 1.2), CFG, **NAMES)
    path = write_comparison(c, tmp_path / "out" / "comparison.json")
    assert read_comparison(path) == c


def test_bad_files_name_the_file_and_line(tmp_path: Path) -> None:
    rows = tmp_path / "h2h.jsonl"
    rows.write_text('{"side": "champion"}\n\n{"side": \n')
    with pytest.raises(PromotionError, match=r"h2h.jsonl:3: not valid JSON"):
        read_rows(rows)
    rows.write_text('{"side": "champion"}\n[1, 2]\n')
    with pytest.raises(PromotionError, match=r"h2h.jsonl:2: a JSON list, expected an object"):
        read_rows(rows)
    with pytest.raises(PromotionError, match=r"missing.jsonl: cannot read"):
        read_rows(tmp_path / "missing.jsonl")
    bad = tmp_path / "comparison.json"
    bad.write_text('{"champion": "bot-v3"}')
    with pytest.raises(PromotionError, match=r"comparison.json: not a comparison"):
        read_comparison(bad)


@pytest.mark.parametrize(("edit", "gone"), [
    (lambda rows: [{**r, "tpot_ms": 0.0} for r in rows], {"median_tpot", "p95_tpot"}),  # every token in one chunk
    (lambda rows: [{**r, "tpot_ms": None} for r in rows], {"median_tpot", "p95_tpot"}),  # one-token answers
    (lambda rows: [{**r, "success": r["side"] == "champion"} for r in rows],             # the candidate failed all
     {f"{s}_{m}" for s in ("median", "p95") for m in ("ttft", "tpot", "e2el")}),
])
def test_build_comparison_leaves_out_what_cannot_be_compared_and_says_why(edit, gone) -> None:
    """The pipeline must reach a decision (the failure-rate check rejects a candidate that failed
    everything), not crash on one unmeasurable latency."""
    from tasks.promotion.comparison_report import comparison_markdown

    quality = quality_rows(12, {"champion": set(), "tuned": set()})
    c = build_comparison(quality, edit(latency_rows(20, 1.0)), CFG, **NAMES)
    assert set(c.skipped) == gone and not gone & {m.metric for m in c.metrics}
    assert "exact_match" in {m.metric for m in c.metrics}
    assert read_comparison(write_comparison(c, Path(tempfile.mkdtemp()) / "c.json")) == c
    table = comparison_markdown(c)
    assert all(f"- {name}: " in table for name in gone)
