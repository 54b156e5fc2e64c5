"""What a benchmark writes back to a model version (tags), and the champion's quality the
next candidate is compared against, read from those tags."""

from __future__ import annotations

from typing import Any

from tasks.benchmark.results import HEADLINE_METRICS

QUALITY_TAG = "bench_quality"


def champion_quality(tracking_uri: str, name: str, alias: str = "champion") -> float | None:
    """The benchmark quality recorded on the current champion, if there is one."""
    from tasks.registry.versions import client_for, get_alias_version

    version = get_alias_version(tracking_uri, name, alias)
    if version is None:
        return None
    tags = client_for(tracking_uri).get_model_version(name, version).tags
    try:
        return float(tags[QUALITY_TAG])
    except (KeyError, ValueError):
        return None


def comparison_tags(decision: dict[str, Any]) -> dict[str, Any]:
    """The gate's mode and, head to head, whom it was compared with and each metric's interval
    and verdict (`h2h_<metric>`, compact JSON), as the comparison computed them."""
    tags: dict[str, Any] = {"gate_mode": decision.get("mode", "absolute"),
                            "gate_champion_version": decision.get("champion_version"),
                            "gate_comparison_file": decision.get("comparison_file")}
    comparison = decision.get("comparison")
    if not comparison:
        return tags
    import json

    tags["gate_confidence"] = comparison["confidence"]
    tags["gate_quality_items"] = comparison["quality_items"]
    tags["gate_latency_requests"] = comparison["latency_requests"]
    for m in comparison["metrics"]:
        tags[f"h2h_{m['metric']}"] = json.dumps({k: m[k] for k in ("estimate", "low", "high", "bound", "verdict")},
                                                separators=(",", ":"))
    return tags


def record_benchmark(tracking_uri: str, name: str, version: str, summary: dict[str, Any],
                     decision: dict[str, Any] | None) -> None:
    """The headline numbers (`bench_<key>` for each of `HEADLINE_METRICS`, as the benchmark task's
    summary carries them: latency, and served quality tuned and base, e.g. `bench_quality`,
    `bench_base_quality`) and the gate's verdict as tags on the model version."""
    from tasks.registry.versions import client_for

    client = client_for(tracking_uri)
    tags: dict[str, Any] = {f"bench_{k}": summary.get(k) for k in HEADLINE_METRICS}
    tags["bench_result_file"] = summary.get("result_file")
    if decision is not None:
        tags["gate_passed"] = decision["passed"]
        tags["gate_summary"] = decision["summary"][:4000]
        tags.update(comparison_tags(decision))
    capacity = summary.get("capacity")
    if capacity is not None:
        tags.update(capacity_tags(capacity))
    for key, value in tags.items():
        if value is not None:
            # repr() keeps every digit: the next candidate is compared against this exact value
            client.set_model_version_tag(name, version, key, repr(value) if isinstance(value, float) else str(value))
    if capacity is not None:
        record_capacity_run(client, client.get_model_version(name, version).run_id, capacity)


def capacity_tags(capacity: dict[str, Any]) -> dict[str, Any]:
    """The capacity sweep on the version: requests/s at the SLO, how to read it, and its file."""
    return {"capacity_max_rate_meeting_slo": capacity.get("max_rate_meeting_slo"),
            "capacity_bound": capacity.get("bound"), "capacity_result_file": capacity.get("result_file")}


def record_capacity_run(client: Any, run_id: str | None, capacity: dict[str, Any]) -> None:
    """The capacity as a metric of the version's training run, the sweep JSON and plot as its
    artifacts (`capacity/`), so MLflow's run page and run comparison show it."""
    if not run_id:
        return
    if capacity.get("max_rate_meeting_slo") is not None:
        client.log_metric(run_id, "capacity_max_rate_meeting_slo_per_s", float(capacity["max_rate_meeting_slo"]))
    for key in ("result_file", "plot_file"):
        if capacity.get(key):
            client.log_artifact(run_id, capacity[key], artifact_path="capacity")
