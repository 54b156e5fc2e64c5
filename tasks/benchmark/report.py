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


def plot_latencies(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in result["requests"] if r["success"]]
    ttft = [r["ttft_ms"] for r in ok]
    e2el = [r["e2el_ms"] for r in ok]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, values, title in ((axes[0], ttft, "TTFT (ms)"), (axes[1], e2el, "E2EL (ms)")):
        if values:
            ax.hist(values, bins=min(40, max(5, len(values) // 3)), color="#4c72b0")
            for p, style in ((50, "--"), (99, ":")):
                v = sorted(values)[min(len(values) - 1, int(len(values) * p / 100))]
                ax.axvline(v, color="k", linestyle=style, label=f"p{p} {v:.1f}")
            ax.legend()
        ax.set_title(title)
        ax.set_xlabel("ms")
        ax.set_ylabel("requests")
    fig.suptitle(f"{result.get('model_id', '')}: {result['completed']} ok, {result['failed']} failed, "
                 f"{result['request_throughput']:.1f} req/s")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
