"""Per-request latencies from a `vllm bench serve --save-result --save-detailed` file, defined as
vLLM defines them (vllm/benchmarks/serve.py, `calculate_metrics`), so that `mlops bench compare`
bootstraps the same numbers vLLM's own aggregates summarise.

What vLLM saves, one entry per request in send order: `ttfts` (s, 0 for a failed request),
`itls` (s, the gaps between content chunks), `output_lens` (tokens; 0 when failed), `input_lens`,
`errors` ("" when it succeeded), and in recent versions `latencies` (s, request start to the last
content chunk), `start_times` and `queue_times`. Without `--save-detailed` it drops `ttfts`,
`itls`, `output_lens` and `errors`: the aggregates remain, the per-request samples do not.

A request counts when it has no error and a first token (ttft > 0). E2EL is `latencies[i]`,
else (older files) ttft + the sum of its ITLs, which is the same instant: the last content chunk.
TPOT is (E2EL - TTFT) / (output tokens - 1), only for answers of 2+ tokens (vLLM leaves the
others out of its TPOT statistics too).
"""

from __future__ import annotations

from typing import Any

# Keys only vLLM's result JSON has (ours has `benchmark_run_id` instead); older versions lack
# `endpoint_type` but have always written `tokenizer_id` (null with --skip-tokenizer-init).
VLLM_MARKERS = ("tokenizer_id", "endpoint_type")
_DETAILED = ("ttfts", "output_lens", "errors")


def is_vllm_result(data: dict[str, Any]) -> bool:
    return any(key in data for key in VLLM_MARKERS)


def _list(data: dict[str, Any], key: str, n: int) -> list[Any] | None:
    value = data.get(key)
    return value if isinstance(value, list) and len(value) == n else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def vllm_samples(data: dict[str, Any]) -> tuple[dict[str, list[float]] | None, str | None]:
    """({"ttft"|"tpot"|"e2el": per-request ms of the successful requests}, None), or (None, why
    the file has no usable per-request samples)."""
    missing = [key for key in _DETAILED if not isinstance(data.get(key), list)]
    if missing:
        return None, (f"no per-request {'/'.join(missing)} (run `vllm bench serve` with --save-result "
                      "--save-detailed to keep them)")
    n = len(data["ttfts"])
    lens, errors = _list(data, "output_lens", n), _list(data, "errors", n)
    latencies, itls = _list(data, "latencies", n), _list(data, "itls", n)
    if lens is None or errors is None or (latencies is None and itls is None):
        return None, f"per-request arrays of different lengths (ttfts has {n}); the file is damaged"
    out: dict[str, list[float]] = {"ttft": [], "tpot": [], "e2el": []}
    for i in range(n):
        ttft = _number(data["ttfts"][i])
        if errors[i] or ttft is None or ttft <= 0:
            continue
        e2el = _number(latencies[i]) if latencies is not None else ttft + sum(itls[i] or ())  # type: ignore[index]
        if e2el is None:
            return None, f"request {i}: latency {latencies[i]!r} is not a number"  # type: ignore[index]
        out["ttft"].append(ttft * 1000.0)
        out["e2el"].append(e2el * 1000.0)
        tokens = _number(lens[i]) or 0
        if tokens > 1:
            out["tpot"].append((e2el - ttft) / (tokens - 1) * 1000.0)
    completed = data.get("completed")
    if isinstance(completed, int) and completed != len(out["ttft"]):
        return None, (f"{len(out['ttft'])} requests succeeded per request but 'completed' says {completed}; "
                      "the per-request arrays do not match the aggregates")
    return out, None
