"""The base-vs-tuned lines `mlops train` and `mlops pipeline` print, from the logged metrics."""

from __future__ import annotations

from typing import Any

from tasks.training.eval_metrics import METRICS

_LABELS = {"exact_match": "exact match", "json_valid": "JSON valid", "field_accuracy": "field accuracy"}


def base_vs_tuned(metrics: dict[str, Any], *, base: str = "base_", tuned: str = "final_", width: int = 20,
                  where: str = "HF") -> list[str]:
    """One line per task metric the run has: `<label> (<where>): base -> tuned (+delta)`."""
    lines = []
    for name in METRICS:
        after = metrics.get(f"{tuned}{name}")
        if after is None:
            continue
        before = metrics.get(f"{base}{name}")
        label = f"{_LABELS[name]} ({where}):"
        if before is None:
            lines.append(f"{label:<{width}} {after:.3f} (fine-tuned)")
        else:
            lines.append(f"{label:<{width}} {before:.3f} (base) -> {after:.3f} (fine-tuned), {after - before:+.3f}")
    return lines
