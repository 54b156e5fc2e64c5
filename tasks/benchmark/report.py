"""Human output: a console table and a latency plot (TTFT and E2EL distributions).

The full table on purpose (not `HEADLINE_METRICS`): it mirrors `vllm bench serve`'s printout
(TTFT and E2EL from each request's actual send, as vLLM's), then the schedule-based TTFT/E2EL
(from the planned send time) under their own labels, with the send lag between the two.
Every number is read from the `BenchmarkResult` (computed once in metrics.py), so the table,
the plot marks, the JSON and the registry tags agree to the last digit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.benchmark.results import QUALITY_KEYS, BenchmarkResult, LatencyStats, pct_key

_TITLES = (("ttft", "Time to First Token (from actual send)"), ("tpot", "Time per Output Token (excl. 1st token)"),
           ("itl", "Inter-token Latency"), ("e2el", "End-to-end Latency (from actual send)"))
# Counted from the planned send time (the client's lateness included), under their own labels.
_SCHED_TITLES = (("sched_ttft", "Time to First Token (from planned send)", "sched TTFT"),
                 ("sched_e2el", "End-to-end Latency (from planned send)", "sched E2EL"))


def format_table(result: BenchmarkResult) -> str:
    m = result.metrics
    rows = [
        ("Successful requests", f"{m.completed}"),
        ("Failed requests", f"{m.failed}"),
        ("Benchmark duration (s)", f"{m.duration_s:.2f}"),
        ("Total input tokens", f"{m.total_input_tokens}"),
        ("Total generated tokens", f"{m.total_output_tokens}"),
        ("Request throughput (req/s)", f"{m.requests_per_s:.2f}"),
        ("Output token throughput (tok/s)", f"{m.output_tokens_per_s:.2f}"),
        ("Total token throughput (tok/s)", f"{m.total_tokens_per_s:.2f}"),
    ]
    if m.good_requests_per_s is not None:
        rows.append(("Request goodput (req/s)", f"{m.good_requests_per_s:.2f}"))
    rows += quality_rows(result)
    lines = ["{:=^60}".format(" Serving Benchmark Result ")]
    lines += [f"{k:<42}{v:>18}" for k, v in rows]
    for name, title in _TITLES:
        lines += _latency_lines(m.latency(name), title, name.upper())
    for name, title, label in _SCHED_TITLES:
        stats = getattr(m, name)
        if stats is not None:
            lines += _latency_lines(stats, title, label)
    lines.append("{:-^60}".format("Client"))
    lines.append(f"{'Median send lag (ms)':<42}{m.send_lag_p50_ms:>18.2f}")
    lines.append(f"{'P99 send lag (ms)':<42}{m.send_lag_p99_ms:>18.2f}")
    lines.append("=" * 60)
    return "\n".join(lines)


def _latency_lines(stats: LatencyStats, title: str, label: str) -> list[str]:
    lines = ["{:-^60}".format(title)]
    shown = [("mean", stats.mean_ms), ("median", stats.median_ms)]
    shown += [(pct_key(p), v) for p, v in stats.percentiles_ms if p in (50.0, 95.0, 99.0)]
    lines += [f"{(stat.capitalize() + ' ' + label + ' (ms)'):<42}{value:>18.2f}" for stat, value in shown]
    return lines


def quality_rows(result: BenchmarkResult) -> list[tuple[str, str]]:
    """Each quality metric measured, tuned then base (the same items, the same settings)."""
    flat = result.flat()
    rows = []
    for metric in QUALITY_KEYS["tuned"]:
        for side in ("tuned", "base"):
            value = flat.get(QUALITY_KEYS[side][metric])
            if value is not None:
                rows.append((f"Quality {metric.replace('_', ' ')} ({side})", f"{value:.4f}"))
    return rows


def marked_percentiles(result: BenchmarkResult, name: str) -> list[tuple[str, float]]:
    """The (label, ms) lines the plot draws for `name` ("ttft", "e2el"): the result's own
    numbers (metrics.py computed them once), never recomputed, so plot, JSON and table agree."""
    stats = result.metrics.latency(name)
    p50 = dict(stats.percentiles_ms).get(50.0, stats.median_ms)
    return [("p50", p50), ("p99", stats.p99_ms)]


def latency_figure(result: BenchmarkResult) -> Any:
    """TTFT and E2EL histograms of the successful requests, with the result's p50/p99 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in result.requests if r.success]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name, title in ((axes[0], "ttft", "TTFT (ms)"), (axes[1], "e2el", "E2EL (ms)")):
        values = [getattr(r, f"{name}_ms") for r in ok]
        if values:
            ax.hist(values, bins=min(40, max(5, len(values) // 3)), color="#4c72b0")
            for (label, v), style in zip(marked_percentiles(result, name), ("--", ":")):
                ax.axvline(v, color="k", linestyle=style, label=f"{label} {v:.2f}")  # as format_table prints
            ax.legend()
        ax.set_title(title)
        ax.set_xlabel("ms")
        ax.set_ylabel("requests")
    m = result.metrics
    fig.suptitle(f"{result.model_id}: {m.completed} ok, {m.failed} failed, {m.requests_per_s:.1f} req/s")
    fig.tight_layout()
    return fig


def plot_latencies(result: BenchmarkResult, path: Path) -> Path:
    return save_figure(latency_figure(result), path)


def save_figure(fig: Any, path: Path) -> Path:
    """A matplotlib figure as a PNG at `path` (folders made), then closed: runs plot many."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
