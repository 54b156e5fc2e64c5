"""A benchmark's report for people: a markdown summary (file and Prefect artifact) and a
metrics table artifact in the Prefect UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def publish_report(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                   tracking_uri: str, name: str | None, version: str | None, label: str) -> str:
    """Table and markdown as Prefect artifacts (needs a Prefect run context), plus `report.md`
    next to the result JSON; returns that file's path."""
    import orjson
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    result = orjson.loads(Path(summary["result_file"]).read_bytes())
    merged = {**{k: v for k, v in result.items() if not isinstance(v, (list, dict))}, **summary}
    keys = ("completed", "failed", "duration", "request_throughput", "output_throughput", "total_token_throughput",
            "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_tpot_ms", "mean_itl_ms",
            "p99_itl_ms", "mean_e2el_ms", "p99_e2el_ms", "goodput", "quality")
    rows = [{"metric": k, "value": merged[k]} for k in keys if merged.get(k) is not None]
    key = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40] or "benchmark"
    create_table_artifact(rows, key=f"{key}-metrics", description=f"Benchmark metrics: {label}")
    markdown = report_markdown(merged, decision, model_ref, tracking_uri, name=name, version=version)
    create_markdown_artifact(markdown, key=f"{key}-report", description=f"Benchmark report: {label}")
    path = Path(summary["result_file"]).with_name("report.md")
    path.write_text(markdown)
    return str(path)


def report_markdown(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                    tracking_uri: str, ui_url: str | None = None, name: str | None = None,
                    version: str | None = None) -> str:
    lines = ["# Benchmark report", ""]
    if model_ref:
        link = (f"[{model_ref}]({ui_url.rstrip('/')}/#/models/{name}/versions/{version})"
                if ui_url and name and version else f"`{model_ref}`")
        lines.append(f"Model: {link} (MLflow tracking: `{tracking_uri}`)")
    lines += ["", "| metric | value |", "|---|---|"]
    for key in ("completed", "failed", "request_throughput", "output_throughput", "p99_ttft_ms", "median_ttft_ms",
                "median_tpot_ms", "median_e2el_ms", "quality"):
        if summary.get(key) is not None:
            value = summary[key]
            lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    lines += ["", f"Result JSON: `{summary.get('result_file')}`", f"Latency plot: `{summary.get('plot_file')}`"]
    if decision is not None:
        verdict = "PASSED: promoted to champion" if decision.get("promoted") else (
            "PASSED" if decision["passed"] else f"FAILED ({', '.join(decision['failed'])}); stays candidate")
        lines += ["", f"## Promotion gate: {verdict}", "", decision["summary"]]
    return "\n".join(lines) + "\n"
