"""A benchmark's result as one typed value, and its headline metrics, declared once.

Attribute names carry units: `_ms`, `_s`, and rates as `_per_s` (`requests_per_s`,
`output_tokens_per_s`). The JSON on disk keeps vLLM's `--save-result` keys (`duration`,
`request_throughput`, `mean_ttft_ms`, ...): dashboards, docs/benchmark.md, the promotion gate
and users' scripts read it, so a field spelled differently there names its key once, in its
metadata (`_key`), and `to_dict`/`from_dict` are the only translation.

Adding a metric: a field on `BenchmarkMetrics` (computed in `metrics.calculate_metrics`);
add its JSON key to `HEADLINE_METRICS` if the task summary, the registry tags, the flow log
and the markdown report should carry it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

from configs.errors import BenchmarkError

LATENCIES = ("ttft", "tpot", "itl", "e2el")          # vLLM's: TTFT and E2EL from each request's actual send
SCHED_LATENCIES = ("sched_ttft", "sched_e2el")       # ours: from the scheduled start (+ the client's lateness)

# Quality through the server, tuned (the served name) and base, by `eval_metrics.METRICS` name:
# `quality` stays the tuned exact match (the promotion gate and the dashboards read it).
QUALITY_KEYS = {"tuned": {"exact_match": "quality", "json_valid": "quality_json_valid",
                          "field_accuracy": "quality_field_accuracy"},
                "base": {"exact_match": "base_quality", "json_valid": "base_quality_json_valid",
                         "field_accuracy": "base_quality_field_accuracy"}}
QUALITY_METRICS = tuple(key for side in QUALITY_KEYS.values() for key in side.values())

# The numbers a run is compared by: the task's summary, the registry tags (`bench_<key>`), the
# flow's log line and the markdown report all take exactly these (JSON keys, read via `flat()`).
HEADLINE_METRICS = ("completed", "failed", "request_throughput", "output_throughput", "p99_ttft_ms",
                    "median_ttft_ms", "median_tpot_ms", "median_e2el_ms") + QUALITY_METRICS

# The Prefect table artifact shows more on purpose (it is for reading one run, the headline is for
# comparing runs): the headline plus duration, total throughput, goodput, every latency's mean/p99
# and the schedule-based TTFT/E2EL beside them (with the send lag that separates the two).
TABLE_METRICS = tuple(dict.fromkeys(
    HEADLINE_METRICS + ("duration", "total_token_throughput", "request_goodput")
    + tuple(f"{stat}_{name}_ms" for name in LATENCIES + SCHED_LATENCIES for stat in ("mean", "p99"))
    + ("send_lag_p99_ms",)))


def _key(f: Any) -> str:
    return f.metadata.get("key", f.name)


def pct_key(p: float) -> str:
    """50.0 -> "p50", 99.9 -> "p99.9" (vLLM's spelling)."""
    return f"p{int(p)}" if float(p).is_integer() else f"p{p}"


def _need(d: dict[str, Any], key: str) -> Any:
    try:
        return d[key]
    except KeyError:
        raise BenchmarkError(f"benchmark result has no {key!r}; is it a result JSON written by `mlops bench` "
                             "or the benchmark task?") from None


@dataclass(frozen=True)
class LatencyStats:
    """One latency's distribution in ms; `percentiles_ms` is ((p, value), ...) ascending, as in vLLM."""

    mean_ms: float
    median_ms: float
    std_ms: float
    percentiles_ms: tuple[tuple[float, float], ...]

    def percentile_ms(self, p: float) -> float:
        for q, value in self.percentiles_ms:
            if q == p:
                return value
        raise KeyError(f"percentile {p} was not computed; have {[q for q, _ in self.percentiles_ms]}")

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99.0)

    def to_dict(self, name: str) -> dict[str, float]:
        out = {f"mean_{name}_ms": self.mean_ms, f"median_{name}_ms": self.median_ms, f"std_{name}_ms": self.std_ms}
        out.update({f"{pct_key(p)}_{name}_ms": v for p, v in self.percentiles_ms})
        return out

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> LatencyStats:
        pattern = re.compile(rf"^p(\d+(?:\.\d+)?)_{name}_ms$")
        pcts = sorted((float(m.group(1)), float(v)) for k, v in d.items() if (m := pattern.match(k)))
        return cls(_need(d, f"mean_{name}_ms"), _need(d, f"median_{name}_ms"), _need(d, f"std_{name}_ms"),
                   tuple(pcts))


@dataclass(frozen=True)
class Goodput:
    """Requests meeting every SLO (ms) of `slos_ms` (names: ttft, tpot, e2el)."""

    slos_ms: dict[str, float]
    good_requests: int
    good_requests_per_s: float = field(metadata={"key": "request_goodput"})
    good_fraction: float

    def to_dict(self) -> dict[str, Any]:
        return {_key(f): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Goodput:
        return cls(**{f.name: _need(d, _key(f)) for f in fields(cls)})


@dataclass(frozen=True)
class BenchmarkMetrics:
    """Aggregates as `vllm bench serve` defines them (see metrics.py); field order is JSON order.

    `ttft`/`e2el` count from each request's actual send (vLLM's keys, so its tools read ours);
    `sched_ttft`/`sched_e2el` from its scheduled start. The latter are None in a result that has
    no `*_sched_*` keys: vLLM's own (its TTFT is actual-send), or ours written before the split
    (whose `*_ttft_ms` were counted from the planned send time).
    """

    completed: int
    failed: int
    success_rate: float
    duration_s: float = field(metadata={"key": "duration"})
    total_input_tokens: int
    total_output_tokens: int
    requests_per_s: float = field(metadata={"key": "request_throughput"})
    output_tokens_per_s: float = field(metadata={"key": "output_throughput"})
    total_tokens_per_s: float = field(metadata={"key": "total_token_throughput"})
    ttft: LatencyStats
    tpot: LatencyStats
    itl: LatencyStats
    e2el: LatencyStats
    sched_ttft: LatencyStats | None
    sched_e2el: LatencyStats | None
    send_lag_mean_ms: float
    send_lag_p50_ms: float
    send_lag_p99_ms: float
    send_lag_max_ms: float
    good_requests_per_s: float | None = field(metadata={"key": "request_goodput"})
    goodput: Goodput | None

    def latency(self, name: str) -> LatencyStats:
        if name not in LATENCIES + SCHED_LATENCIES:
            raise KeyError(f"no latency {name!r}; one of {LATENCIES + SCHED_LATENCIES}")
        stats = getattr(self, name)
        if stats is None:
            raise KeyError(f"this result has no {name} (written by vLLM or before schedule-based latencies)")
        return stats

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, LatencyStats):
                out.update(value.to_dict(f.name))
            elif f.name in SCHED_LATENCIES:
                continue  # None: not measured, so no keys (as the file it was read from)
            else:
                out[_key(f)] = value.to_dict() if isinstance(value, Goodput) else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkMetrics:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in LATENCIES:
                kw[f.name] = LatencyStats.from_dict(f.name, d)
            elif f.name in SCHED_LATENCIES:
                kw[f.name] = LatencyStats.from_dict(f.name, d) if f"mean_{f.name}_ms" in d else None
            elif f.name == "goodput":
                kw[f.name] = Goodput.from_dict(d["goodput"]) if d.get("goodput") else None
            else:
                kw[f.name] = _need(d, _key(f))
        return cls(**kw)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the result JSON lists it under `requests` (failed ones too: failures are data).

    `ttft_ms`/`e2el_ms` count from the actual send; add `send_lag_ms` for the schedule-based ones."""

    request_id: str
    success: bool
    status: int | None
    error: str | None
    planned_s: float
    send_lag_ms: float
    ttft_ms: float | None
    e2el_ms: float | None
    tpot_ms: float | None
    prompt_tokens: int | None
    output_tokens: int | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class QualitySummary:
    """Held-out quality through the server, computed once (`quality.evaluate_quality`): the
    served (tuned) name and, when the server also serves the base under its own name, the base,
    on the same items with the same greedy settings. `tuned`/`base` are `eval_metrics.summarize`
    dicts (exact_match; json_valid and field_accuracy for JSON references)."""

    examples: int
    eval_path: str
    tuned: dict[str, float]
    base: dict[str, float] | None = None
    base_model_id: str | None = None
    items_file: str | None = None

    def result_fields(self) -> dict[str, Any]:
        """The `BenchmarkResult` attributes this fills in."""
        out: dict[str, Any] = {"quality_examples": self.examples, "quality_eval_path": self.eval_path,
                               "quality_base_model": self.base_model_id, "quality_items_file": self.items_file}
        for side, scores in (("tuned", self.tuned), ("base", self.base or {})):
            out.update({key: scores.get(metric) for metric, key in QUALITY_KEYS[side].items()})
        return out


# Quality fields written only when quality was measured (the metric keys are always written, as null).
_QUALITY_CONTEXT = ("quality_examples", "quality_eval_path", "quality_base_model", "quality_items_file")


@dataclass(frozen=True)
class BenchmarkResult:
    """A whole run: what was asked (load shape), the aggregates, per-request samples, quality.

    `to_dict()` is the result JSON (key order included); `from_dict()` reads one back.
    """

    date: str
    benchmark_run_id: str
    backend: str
    base_url: str
    model_id: str
    num_prompts: int
    request_rate_per_s: float = field(metadata={"key": "request_rate"})  # JSON: "inf" for all at once
    burstiness: float
    max_concurrency: int | None
    max_tokens: int
    seed: int
    metrics: BenchmarkMetrics
    input_lens: tuple[int | None, ...]
    output_lens: tuple[int | None, ...]
    ttfts: tuple[float, ...]          # seconds, as vLLM's save-result writes them
    itls: tuple[tuple[float, ...], ...]
    errors: tuple[str, ...]
    quality: float | None
    requests: tuple[RequestRecord, ...]
    quality_examples: int | None = None
    quality_eval_path: str | None = None
    quality_json_valid: float | None = None
    quality_field_accuracy: float | None = None
    base_quality: float | None = None
    base_quality_json_valid: float | None = None
    base_quality_field_accuracy: float | None = None
    quality_base_model: str | None = None
    quality_items_file: str | None = None
    latencies: tuple[float, ...] = ()  # E2EL per request in seconds (0 if failed), as vLLM's --save-detailed

    def flat(self) -> dict[str, Any]:
        """The scalar values by their JSON key (what the headline and the table read)."""
        return {k: v for k, v in self.to_dict().items() if not isinstance(v, (list, dict))}

    def headline(self) -> dict[str, Any]:
        flat = self.flat()
        return {k: flat[k] for k in HEADLINE_METRICS}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "metrics":
                out.update(value.to_dict())
            elif f.name == "request_rate_per_s":
                out[_key(f)] = "inf" if value == float("inf") else value
            elif f.name == "itls":
                out[f.name] = [list(x) for x in value]
            elif f.name == "requests":
                out[f.name] = [r.to_dict() for r in value]
            elif f.name in _QUALITY_CONTEXT:
                if value is not None:  # present only when quality was measured
                    out[f.name] = value
            else:
                out[_key(f)] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkResult:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "metrics":
                kw[f.name] = BenchmarkMetrics.from_dict(d)
            elif f.name == "request_rate_per_s":
                kw[f.name] = float(_need(d, "request_rate"))
            elif f.name == "itls":
                kw[f.name] = tuple(tuple(x) for x in _need(d, "itls"))
            elif f.name == "requests":
                kw[f.name] = tuple(RequestRecord(**r) for r in _need(d, "requests"))
            elif f.name in _QUALITY_CONTEXT or (f.name in QUALITY_METRICS and f.name != "quality"):
                kw[f.name] = d.get(f.name)  # absent from results written before base vs tuned
            elif f.name == "latencies":
                kw[f.name] = tuple(d.get("latencies", ()))  # absent from results written before issue 14
            else:
                value = _need(d, _key(f))
                kw[f.name] = tuple(value) if isinstance(value, list) else value
        return cls(**kw)


def write_json(data: dict[str, Any], path: Path) -> Path:
    """An indented JSON file at `path` (folders made): results and sweeps are read by people too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


T = TypeVar("T")


def read_typed(path: Path, what: str, from_dict: Callable[[dict[str, Any]], T]) -> T:
    """A JSON object back as its typed value; a file that is not one is named, not a traceback."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BenchmarkError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise BenchmarkError(f"{what} {path} is not a JSON object")
    try:
        return from_dict(data)
    except (BenchmarkError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"{path}: {exc}") from exc


def write_result(result: BenchmarkResult, path: Path) -> Path:
    return write_json(result.to_dict(), path)


def read_result(path: Path) -> BenchmarkResult:
    """A result JSON back as the typed value; a file that is not one is named, not a traceback."""
    return read_typed(path, "benchmark result", BenchmarkResult.from_dict)
