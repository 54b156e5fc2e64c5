"""Human output: a console table and a latency plot (TTFT and E2EL distributions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def format_table(result: dict[str, Any]) -> str:
    rows = [
        ("Successful requests", f"{result['completed']}"),
        ("Failed requests", f"{result['failed']}"),
        ("Benchmark duration (s)", f"{result['duration']:.2f}"),
        ("Total input tokens", f"{result['total_input_tokens']}"),
        ("Total generated tokens", f"{result['total_output_tokens']}"),
        ("Request throughput (req/s)", f"{result['request_throughput']:.2f}"),
        ("Output token throughput (tok/s)", f"{result['output_throughput']:.2f}"),
        ("Total token throughput (tok/s)", f"{result['total_token_throughput']:.2f}"),
    ]
    if result.get("request_goodput") is not None:
        rows.append(("Request goodput (req/s)", f"{result['request_goodput']:.2f}"))
    if result.get("quality") is not None:
        rows.append(("Quality (task metric)", f"{result['quality']:.4f}"))
    lines = ["{:=^60}".format(" Serving Benchmark Result ")]
    lines += [f"{k:<42}{v:>18}" for k, v in rows]
    for name, title in (("ttft", "Time to First Token"), ("tpot", "Time per Output Token (excl. 1st token)"),
                        ("itl", "Inter-token Latency"), ("e2el", "End-to-end Latency")):
        lines.append("{:-^60}".format(title))
        for stat in ("mean", "median", "p50", "p95", "p99"):
            key = f"{stat}_{name}_ms"
            if key in result:
                lines.append(f"{(stat.capitalize() + ' ' + name.upper() + ' (ms)'):<42}{result[key]:>18.2f}")
    lines.append("{:-^60}".format("Client"))
    lines.append(f"{'P99 send lag (ms)':<42}{result['send_lag_p99_ms']:>18.2f}")
    lines.append("=" * 60)
    return "\n".join(lines)


def marked_percentiles(result: dict[str, Any], name: str) -> list[tuple[str, float]]:
    """The (label, ms) lines the plot draws for `name` ("ttft", "e2el"): the result's own
    numbers (metrics.py computed them once), never recomputed, so plot, JSON and table agree."""
    p50 = result.get(f"p50_{name}_ms", result[f"median_{name}_ms"])
    return [("p50", p50), ("p99", result[f"p99_{name}_ms"])]


def latency_figure(result: dict[str, Any]) -> Any:
    """TTFT and E2EL histograms of the successful requests, with the result's p50/p99 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in result["requests"] if r["success"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name, title in ((axes[0], "ttft", "TTFT (ms)"), (axes[1], "e2el", "E2EL (ms)")):
        values = [r[f"{name}_ms"] for r in ok]
        if values:
            ax.hist(values, bins=min(40, max(5, len(values) // 3)), color="#4c72b0")
            for (label, v), style in zip(marked_percentiles(result, name), ("--", ":")):
                ax.axvline(v, color="k", linestyle=style, label=f"{label} {v:.2f}")  # as format_table prints
            ax.legend()
        ax.set_title(title)
        ax.set_xlabel("ms")
        ax.set_ylabel("requests")
    fig.suptitle(f"{result.get('model_id', '')}: {result['completed']} ok, {result['failed']} failed, "
                 f"{result['request_throughput']:.1f} req/s")
    fig.tight_layout()
    return fig


def plot_latencies(result: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = latency_figure(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
