"""A benchmark's report for people: a markdown summary (file and Prefect artifact) and a
metrics table artifact in the Prefect UI. Both read the result JSON back as a
`BenchmarkResult`; the markdown shows `HEADLINE_METRICS` (quality as a base vs tuned table),
the table `TABLE_METRICS`, each value with its unit (units.py). The plots are embedded in the
artifact as data URIs, so the run page shows them with no file server (the worker's disk is
not the reader's); `report.md` links them by file name, beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.benchmark.results import QUALITY_KEYS, QUALITY_METRICS, TABLE_METRICS, BenchmarkResult
from tasks.benchmark.units import format_metric, metric_label


def publish_report(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                   tracking_uri: str, name: str | None, version: str | None, label: str,
                   head_to_head: dict[str, Any] | None = None) -> str:
    """Table and markdown as Prefect artifacts (needs a Prefect run context), plus `report.md`
    next to the result JSON; returns that file's path. `head_to_head`: the comparison's files
    (head_to_head_run.run_head_to_head), whose table becomes an artifact of its own too."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from tasks.benchmark.results import read_result

    result = read_result(Path(summary["result_file"]))
    flat = result.flat()
    rows = [{"metric": metric_label(k), "value": format_metric(k, flat[k]), "key": k}
            for k in TABLE_METRICS if flat.get(k) is not None]
    key = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40] or "benchmark"
    create_table_artifact(rows, key=f"{key}-metrics", description=f"Benchmark metrics: {label}")
    comparison = Path(head_to_head["markdown_file"]).read_text() if head_to_head else None
    report = {"result": result, "decision": decision, "model_ref": model_ref, "tracking_uri": tracking_uri,
              "name": name, "version": version, "result_file": summary.get("result_file"),
              "plot_file": summary.get("plot_file"), "comparison": comparison,
              "comparison_plot": head_to_head and head_to_head["plot_file"], "capacity": summary.get("capacity")}
    create_markdown_artifact(report_markdown(**report, inline_images=True), key=f"{key}-report",
                             description=f"Benchmark report: {label}")
    if comparison is not None:
        create_markdown_artifact(comparison, key=f"{key}-head-to-head",
                                 description=f"Head to head with the champion: {label}")
    path = Path(summary["result_file"]).with_name("report.md")
    path.write_text(report_markdown(**report))
    return str(path)


def image_markdown(title: str, path: str | None, inline: bool) -> list[str]:
    """The plot as an image: a data URI (`inline`), else its file name (report.md sits beside
    it); a plot that is missing is said so, not a broken image."""
    import base64

    if not path:
        return []
    file = Path(path)
    if not file.is_file():
        return [f"{title}: `{path}` (not written)"]
    src = f"data:image/png;base64,{base64.b64encode(file.read_bytes()).decode()}" if inline else file.name
    return [f"![{title}]({src})", "", f"{title}: `{path}`"]


def report_markdown(result: BenchmarkResult, decision: dict[str, Any] | None, model_ref: str | None,
                    tracking_uri: str, ui_url: str | None = None, name: str | None = None,
                    version: str | None = None, result_file: str | None = None, plot_file: str | None = None,
                    comparison: str | None = None, comparison_plot: str | None = None,
                    capacity: dict[str, Any] | None = None, inline_images: bool = False) -> str:
    """`comparison`: the head-to-head table (comparison_report.comparison_markdown, computed
    once and read from its file), shown under the gate's verdict. `inline_images`: the plots
    as data URIs (the Prefect artifact), else linked by file name (report.md)."""
    lines = ["# Benchmark report", ""]
    if model_ref:
        link = (f"[{model_ref}]({ui_url.rstrip('/')}/#/models/{name}/versions/{version})"
                if ui_url and name and version else f"`{model_ref}`")
        lines.append(f"Model: {link} (MLflow tracking: `{tracking_uri}`)")
    lines += ["", "| metric | value | key |", "|---|---|---|"]
    for key, value in result.headline().items():
        if value is not None and key not in QUALITY_METRICS:
            lines.append(f"| {metric_label(key)} | {format_metric(key, value)} | `{key}` |")
    lines += quality_table(result)
    lines += ["", f"Result JSON: `{result_file}`", ""]
    lines += image_markdown("Latency plot", plot_file, inline_images)
    if capacity is not None:
        lines += capacity_section(capacity, inline_images)
    if decision is not None:
        verdict = "PASSED: promoted to champion" if decision.get("promoted") else (
            "PASSED" if decision["passed"] else f"FAILED ({', '.join(decision['failed'])}); stays candidate")
        lines += ["", f"## Promotion gate: {verdict}", "", decision["summary"]]
    if comparison is not None:
        lines += ["", "## Head to head with the champion", "", comparison.strip()]
        lines += [""] + image_markdown("Forest plot", comparison_plot, inline_images)
    return "\n".join(lines) + "\n"


def quality_table(result: BenchmarkResult) -> list[str]:
    """Held-out quality through the server, base vs tuned on the same items, read from the result
    (computed once in quality.py); the base column is "n/a" when the server has no separate base."""
    if result.quality is None:
        return []
    flat = result.flat()
    base = result.quality_base_model
    lines = ["", f"## Quality through the server: base vs tuned ({result.quality_examples} held-out items)", "",
             f"Tuned: `{result.model_id}`; base: {f'`{base}`' if base else 'not served under its own name'}."
             + (f" Per item: `{result.quality_items_file}`." if result.quality_items_file else ""), "",
             "| metric | base | tuned | tuned - base |", "|---|---|---|---|"]
    for metric, tuned_key in QUALITY_KEYS["tuned"].items():
        tuned, before = flat.get(tuned_key), flat.get(QUALITY_KEYS["base"][metric])
        if tuned is None:
            continue
        delta = f"{tuned - before:+.4g}" if before is not None else "n/a"
        lines.append(f"| {metric} | {'n/a' if before is None else f'{before:.4g}'} | {tuned:.4g} | {delta} |")
    return lines


def capacity_section(capacity: dict[str, Any], inline_images: bool) -> list[str]:
    """The sweep (capacity_sweep_task's answer): its one-sentence answer, a row per rate tried
    as the sweep JSON has it, and its plot."""
    from tasks.benchmark.sweep_result import read_sweep

    sweep = read_sweep(Path(capacity["result_file"]))
    lines = ["", "## Capacity at the SLO", "", sweep.summary(), "",
             "| rate | requests | SLO attainment | p50 TTFT | p99 TTFT | verdict |", "|---|---|---|---|---|---|"]
    for step in sweep.rows:
        p50 = step.metric("p50_ttft_ms") if step.metric("p50_ttft_ms") is not None else step.metric("median_ttft_ms")
        lines.append(f"| {format_metric('request_throughput', step.request_rate_per_s)} | {step.metric('num_prompts')} "
                     f"| {format_metric('slo_attainment', step.slo_attainment)} | {format_metric('p50_ttft_ms', p50)} "
                     f"| {format_metric('p99_ttft_ms', step.metric('p99_ttft_ms'))} | {step.verdict} |")
    return lines + ["", f"Sweep JSON: `{capacity['result_file']}`", ""] + image_markdown(
        "Capacity plot", capacity.get("plot_file"), inline_images)
