"""Thin Prefect tasks over the registry: resolve a version, read the champion's quality,
write a benchmark's numbers back. Registry calls are idempotent, so transient failures retry."""

from __future__ import annotations

from typing import Any

from prefect import task


@task(name="resolve-model", retries=2, retry_delay_seconds=[2, 10])
def resolve_model_task(tracking_uri: str, model_ref: str) -> dict[str, Any]:
    """`models:/NAME@alias` or `models:/NAME/3` -> name, version and the eval set it was trained with."""
    from tasks.registry.versions import resolve_model

    resolved = resolve_model(tracking_uri, model_ref)
    return {"name": resolved.name, "version": str(resolved.version), "eval_path": resolved.tags.get("eval_path")}


@task(name="champion-quality", retries=2, retry_delay_seconds=[2, 10])
def champion_quality_task(tracking_uri: str, name: str, alias: str) -> float | None:
    from tasks.registry.benchmark_tags import champion_quality

    return champion_quality(tracking_uri, name, alias)


@task(name="record-benchmark", retries=2, retry_delay_seconds=[2, 10])
def record_benchmark_task(tracking_uri: str, name: str, version: str, summary: dict[str, Any],
                          decision: dict[str, Any] | None) -> None:
    from tasks.registry.benchmark_tags import record_benchmark

    record_benchmark(tracking_uri, name, version, summary, decision)
