"""The comparison's table and forest plot show the Comparison's own numbers, and agree."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from configs.promotion import PromotionConfig
from tasks.promotion.comparison import Comparison
from tasks.promotion.comparison_report import VERDICT_COLOURS, comparison_markdown, forest_figure, plot_forest
from tasks.promotion.head_to_head import build_comparison
from tests.unit.promotion.h2h_rows import latency_rows, quality_rows

NAMES = {"champion": "bot-v3", "candidate": "bot-v4", "champion_version": "3", "candidate_version": "4"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def mixed() -> Comparison:
    """Some metrics pass, some fail: a better quality and a slower p95."""
    quality = quality_rows(120, {"champion": set(range(0, 120, 4)), "tuned": set(range(0, 120, 30))})
    return build_comparison(quality, latency_rows(200, 1.08, seed=2), PromotionConfig(margins={"p95_ttft": 1.25}),
                            **NAMES)


def _number(cell: str) -> float:
    return float(re.sub(r"[x%ms ]", "", cell))


def _table(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("metric",):
            rows[cells[0]] = cells[1:]
    return rows


def test_table_rows_are_the_comparisons_numbers(mixed: Comparison) -> None:
    text = comparison_markdown(mixed)
    rows = _table(text)
    assert list(rows) == [m.metric for m in mixed.metrics]
    for m in mixed.metrics:
        champion, candidate, estimate, interval, margin, verdict, detectable = rows[m.metric]
        low, high = (_number(x) for x in interval.strip("[]").split(","))
        scale = 100 if m.kind == "latency" else 1  # latency detectable is printed as a percentage
        assert _number(champion) == pytest.approx(m.champion_value, abs=0.06)
        assert _number(candidate) == pytest.approx(m.candidate_value, abs=0.06)
        assert (_number(estimate), low, high, _number(margin)) == pytest.approx((m.estimate, m.low, m.high, m.bound),
                                                                                abs=5e-4)
        assert _number(detectable) == pytest.approx(m.detectable * scale, abs=0.06)
        assert verdict == m.verdict
        assert estimate.startswith(("+", "-")) if m.kind == "quality" else estimate.endswith("x")


def test_header_and_closing_line_name_the_models_the_run_and_the_failures(mixed: Comparison) -> None:
    text = comparison_markdown(mixed)
    first, last = text.splitlines()[0], text.strip().splitlines()[-1]
    for part in ("`bot-v4` (version 4)", "`bot-v3` (version 3)", "2000 paired bootstrap resamples",
                 "95% confidence", "120 items", "200 requests per model"):
        assert part in first
    assert "| metric | champion | candidate | estimate | interval (95%) | margin | verdict | detectable |" in text
    assert mixed.failed and last.startswith("**Failed**")
    for name in mixed.failed:
        assert f"{name} ({mixed.metric(name).verdict})" in last
    passing = [m.metric for m in mixed.metrics if m.passed]
    assert passing and not any(f"{name} (" in last for name in passing)


def test_a_passing_comparison_says_so() -> None:
    c = build_comparison(quality_rows(60, {"champion": {1, 2}, "tuned": {1, 2}}, task="capitals"), None,
                         PromotionConfig(), **NAMES)
    text = comparison_markdown(c)
    assert c.passed and text.strip().endswith("**Passed**: every metric is better or non-inferior.")
    assert "Latency" not in text and "0 requests per model" in text


def _lines(fig) -> dict[str, object]:
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}


def test_forest_plot_draws_the_comparisons_intervals_estimates_and_margins(mixed: Comparison) -> None:
    fig = forest_figure(mixed)
    lines = _lines(fig)
    quality_ax, latency_ax = fig.axes[:2]
    assert latency_ax.get_xscale() == "log" and quality_ax.get_xscale() == "linear"
    assert list(lines["quality:no-change"].get_xdata()) == [0.0, 0.0]
    assert list(lines["latency:no-change"].get_xdata()) == [1.0, 1.0]
    for m in mixed.metrics:
        interval, estimate, margin = (lines[f"{m.metric}:{part}"] for part in ("interval", "estimate", "margin"))
        assert list(interval.get_xdata()) == [m.low, m.high]
        assert list(estimate.get_xdata()) == [m.estimate]
        assert list(margin.get_xdata()) == [m.bound, m.bound] and margin.get_linestyle() == ":"
        assert to_hex(estimate.get_color()) == VERDICT_COLOURS[m.verdict]
        ax = quality_ax if m.kind == "quality" else latency_ax
        labels = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
        assert interval.get_ydata()[0] == estimate.get_ydata()[0] == labels[m.metric]
        low, high = ax.get_xlim()
        assert low <= min(m.low, m.bound) and max(m.high, m.bound) <= high


def test_table_and_plot_show_what_the_comparison_holds_not_a_recomputation(mixed: Comparison, tmp_path: Path) -> None:
    edited = dataclasses.replace(mixed.metrics[0], estimate=0.321, low=0.123, high=0.456)
    c = dataclasses.replace(mixed, metrics=(edited, *mixed.metrics[1:]))
    assert _table(comparison_markdown(c))[edited.metric][2:4] == ["+0.321", "[+0.123, +0.456]"]
    lines = _lines(forest_figure(c))
    assert list(lines[f"{edited.metric}:interval"].get_xdata()) == [0.123, 0.456]


def test_plot_forest_writes_a_png_with_one_panel_per_kind_present(tmp_path: Path) -> None:
    c = build_comparison(None, latency_rows(50, 1.0), PromotionConfig(), **NAMES)
    path = plot_forest(c, tmp_path / "reports" / "forest.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = forest_figure(c)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 1 and panels[0].get_xscale() == "log"
