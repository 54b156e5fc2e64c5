"""A head-to-head `Comparison` for people: a Markdown table and a forest plot.

Both only format what the Comparison holds (computed once in `head_to_head`); nothing is
recomputed here, so the table, the plot and `comparison.json` always agree. Quality reads as a
difference in mean per-item score (+0.021), latency as a ratio candidate / champion (1.040x).

    text = comparison_markdown(c)         # header, one table per kind, a closing verdict line
    plot_forest(c, run_dir / "forest.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.promotion.comparison import LATENCY, QUALITY, Comparison, MetricComparison

VERDICT_COLOURS = {"better": "#2ca02c", "non-inferior": "#1f77b4", "worse": "#d62728", "inconclusive": "#ff7f0e"}
TITLES = {QUALITY: "Quality: candidate - champion (mean per-item score)",
          LATENCY: "Latency: candidate / champion"}
NO_CHANGE = {QUALITY: 0.0, LATENCY: 1.0}
RATIO_TICKS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5,
               3.0, 4.0, 5.0, 10.0)


def percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def fmt_estimate(m: MetricComparison, value: float) -> str:
    """A difference signed to 3 decimals, a ratio as 1.040x."""
    return f"{value:+.3f}" if m.kind == QUALITY else f"{value:.3f}x"


def fmt_value(m: MetricComparison, value: float) -> str:
    """A side's own value: a mean score, or a latency statistic in ms."""
    return f"{value:.3f}" if m.kind == QUALITY else f"{value:.1f} ms"


def fmt_detectable(m: MetricComparison) -> str:
    """Quality: the smallest difference in score; latency: the smallest slowdown, as a percentage."""
    return f"{m.detectable:.3f}" if m.kind == QUALITY else f"{m.detectable:.1%}"


def header(c: Comparison) -> str:
    def name(served: str, version: str | None) -> str:
        return f"`{served}`" + (f" (version {version})" if version is not None else "")

    return (f"Head to head: candidate {name(c.candidate, c.candidate_version)} vs champion "
            f"{name(c.champion, c.champion_version)}; {c.resamples} paired bootstrap resamples (seed {c.seed}), "
            f"{percent(c.confidence)} confidence; {c.quality_items} items, {c.latency_requests} requests per model.")


def table_rows(c: Comparison, kind: str) -> list[list[str]]:
    """The cells of one kind's table, one row per metric, in the Comparison's order."""
    return [[m.metric, fmt_value(m, m.champion_value), fmt_value(m, m.candidate_value), fmt_estimate(m, m.estimate),
             f"[{fmt_estimate(m, m.low)}, {fmt_estimate(m, m.high)}]", fmt_estimate(m, m.bound),
             f"{m.verdict} (advisory)" if m.advisory else m.verdict,
             fmt_detectable(m)]
            for m in c.metrics if m.kind == kind]


def closing_line(c: Comparison) -> str:
    if c.passed:
        return ("**Passed**: every deciding metric is better or non-inferior."
                if any(m.advisory for m in c.metrics) else "**Passed**: every metric is better or non-inferior.")
    if not c.metrics:
        return "**Failed**: no metric was compared."
    failed = ", ".join(f"{m.metric} ({m.verdict})" for m in c.metrics if m.decides and not m.passed)
    return f"**Failed**: {failed}."


def comparison_markdown(c: Comparison) -> str:
    columns = ["metric", "champion", "candidate", "estimate", f"interval ({percent(c.confidence)})", "margin",
               "verdict", "detectable"]
    parts = [header(c)]
    for kind in (QUALITY, LATENCY):
        rows = table_rows(c, kind)
        if not rows:
            continue
        lines = [f"| {' | '.join(columns)} |", f"|{'|'.join('---' for _ in columns)}|"]
        lines += [f"| {' | '.join(row)} |" for row in rows]
        parts.append(f"### {TITLES[kind]}\n\n" + "\n".join(lines))
    if c.skipped:
        parts.append("Not compared (the gate decided without them):\n\n"
                     + "\n".join(f"- {name}: {why}" for name, why in c.skipped.items()))
    parts.append(closing_line(c))
    return "\n\n".join(parts) + "\n"


def _x_limits(metrics: list[MetricComparison], kind: str) -> tuple[float, float]:
    """Wide enough for every interval, margin and the no-change line (which does not autoscale)."""
    values = [v for m in metrics for v in (m.low, m.high, m.bound)] + [NO_CHANGE[kind]]
    low, high = min(values), max(values)
    if kind == LATENCY:
        pad = (high / low) ** 0.08
        return low / pad, high * pad
    pad = max(high - low, 0.01) * 0.08
    return low - pad, high + pad


def _draw_panel(ax: Any, metrics: list[MetricComparison], kind: str) -> None:
    """One row per metric (first on top): interval line, estimate dot coloured by verdict, red
    dotted margin tick; a dashed line at no change. Every line carries a gid naming it."""
    for y, m in enumerate(reversed(metrics)):
        ax.plot([m.low, m.high], [y, y], color="0.25", linewidth=2, gid=f"{m.metric}:interval")
        ax.plot([m.estimate], [y], "o", color=VERDICT_COLOURS[m.verdict], markersize=8, gid=f"{m.metric}:estimate")
        ax.plot([m.bound, m.bound], [y - 0.35, y + 0.35], color="red", linestyle=":", linewidth=2,
                gid=f"{m.metric}:margin")
    ax.axvline(NO_CHANGE[kind], color="k", linestyle="--", linewidth=1, gid=f"{kind}:no-change")
    ax.set_yticks(range(len(metrics)), [m.metric for m in reversed(metrics)])
    ax.set_ylim(-0.7, len(metrics) - 0.3)
    ax.set_title(TITLES[kind])
    if kind == LATENCY:
        from matplotlib.ticker import NullLocator

        ax.set_xscale("log")
        low, high = _x_limits(metrics, kind)
        ticks = [t for t in RATIO_TICKS if low <= t <= high]
        ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("ratio (log scale)")
    else:
        ax.set_xlabel("difference in mean score")
    ax.set_xlim(*_x_limits(metrics, kind))


def forest_figure(c: Comparison) -> Any:
    """The forest plot as a matplotlib figure: a panel per kind compared (quality, latency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    kinds = [k for k in (QUALITY, LATENCY) if any(m.kind == k for m in c.metrics)]
    heights = [max(2, sum(m.kind == k for m in c.metrics)) for k in kinds] or [1]
    fig, axes = plt.subplots(len(kinds) or 1, 1, figsize=(8, 1.2 + 0.55 * sum(heights) + 0.8 * len(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        _draw_panel(ax, [m for m in c.metrics if m.kind == kind], kind)
    handles = [Line2D([], [], marker="o", linestyle="", color=colour, label=verdict)
               for verdict, colour in VERDICT_COLOURS.items()]
    handles += [Line2D([], [], color="red", linestyle=":", label="margin"),
                Line2D([], [], color="k", linestyle="--", label="no change")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    verdict = "passed" if c.passed else f"failed ({len(c.failed)} of {len(c.metrics)} metrics)"
    fig.suptitle(f"{c.candidate} vs {c.champion}, {percent(c.confidence)} intervals: {verdict}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_forest(c: Comparison, path: Path) -> Path:
    from tasks.benchmark.report import save_figure

    return save_figure(forest_figure(c), path)
