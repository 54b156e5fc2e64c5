"""The gate's decision as a typed `promotion_decision` event in `logs/system/`, so Loki can
alert on a rejected candidate (alert PromotionRejected) and dashboards can list decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def decision_fields(decision: dict[str, Any], *, model_name: str, version: str,
                    champion_version: str | None) -> dict[str, Any]:
    """The event's fields from `apply_decision`'s dict (the same one the report and tags read)."""
    comparison = decision.get("comparison") or {}
    metrics = comparison.get("metrics") or []
    fields: dict[str, Any] = {
        "model_name": model_name, "candidate_version": str(version), "champion_version": champion_version,
        "mode": decision.get("mode", "absolute"), "passed": bool(decision["passed"]),
        "promoted": bool(decision.get("promoted")), "failed_checks": ",".join(decision.get("failed") or []),
        "summary": decision["summary"][:2000],
    }
    if comparison:
        fields.update(metrics_compared=len(metrics), metrics_worse=sum(m["verdict"] == "worse" for m in metrics),
                      quality_items=comparison.get("quality_items"), latency_requests=comparison.get("latency_requests"))
    return fields


def log_decision(decision: dict[str, Any], log_dir: str | Path | None, *, model_name: str, version: str,
                 champion_version: str | None = None) -> dict[str, Any]:
    """Write the event (INFO when passed, WARNING when rejected); returns its fields."""
    from logging_lib import SystemLogger

    fields = decision_fields(decision, model_name=model_name, version=version, champion_version=champion_version)
    with SystemLogger("promotion", str(log_dir) if log_dir is not None else None) as logger:
        logger.log_event("promotion_decision", level="INFO" if fields["passed"] else "WARNING", **fields)
    return fields
