"""Numbers for people: a result key's unit, and its value written with that unit.

A report that printed `1.114e+04` and `0.01258` left the reader to guess ms or s, share or
percent. Every key's unit follows from its name (`_ms`, `_per_s`) or is listed here once.
"""

from __future__ import annotations

import math
from typing import Any

from tasks.benchmark.results import QUALITY_KEYS

_UNITS = {"request_throughput": "req/s", "request_goodput": "req/s", "max_rate_meeting_slo": "req/s",
          "output_throughput": "tok/s", "total_token_throughput": "tok/s", "duration": "s",
          "success_rate": "%", "slo_attainment": "%", "completed": "requests", "failed": "requests",
          "total_input_tokens": "tokens", "total_output_tokens": "tokens"}

_LABELS = {"completed": "successful requests", "failed": "failed requests", "duration": "duration",
           "request_throughput": "request throughput", "output_throughput": "output token throughput",
           "total_token_throughput": "total token throughput", "request_goodput": "request goodput",
           "max_rate_meeting_slo": "capacity at the SLO", "success_rate": "success rate",
           "slo_attainment": "SLO attainment"}


# held-out quality, tuned and base: shares of the items, shown as percentages
_QUALITY = {key: f"{metric.replace('_', ' ')} ({side})" for side, keys in QUALITY_KEYS.items()
            for metric, key in keys.items()}


def metric_unit(key: str) -> str:
    if key in _QUALITY:
        return "% of items"
    if key in _UNITS:
        return _UNITS[key]
    if key.endswith("_ms"):
        return "ms"
    if key.endswith("_per_s"):
        return "/s"
    return ""


def metric_label(key: str) -> str:
    """`p99_ttft_ms` -> "p99 TTFT"; `request_throughput` -> "request throughput"."""
    if key in _LABELS or key in _QUALITY:
        return _LABELS.get(key) or _QUALITY[key]
    words = key.removesuffix("_ms").split("_")
    return " ".join(w.upper() if w in ("ttft", "tpot", "itl", "e2el", "slo") else w for w in words)


def plain_number(value: float) -> str:
    """Fixed point, never an exponent: 11140 -> "11,140", 166.64 -> "166.6", 0.012584 -> "0.0126"."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1 or value == 0:
        return f"{value:.2f}"
    digits = 2 - math.floor(math.log10(size))  # three significant digits
    return f"{value:.{digits}f}"


def format_metric(key: str, value: Any) -> str:
    """The value with its unit ("n/a" for None); shares listed as % are shown as percentages."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    unit = metric_unit(key)
    if isinstance(value, int):
        return f"{value:,}" + (f" {unit}" if unit else "")
    if unit.startswith("%"):
        return f"{plain_number(value * 100)} {unit}"
    return plain_number(value) + (f" {unit}" if unit else "")
