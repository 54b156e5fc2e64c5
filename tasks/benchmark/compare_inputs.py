"""One benchmark result file, ours or vLLM's, as what `mlops bench compare` needs of it: its
scalar aggregates by their JSON key and, where the file carries them, per-request samples.

    run = load_run(Path("a.json"))
    run.source                   # "mlops" (`mlops bench`, the benchmark task) or "vllm" (`vllm bench serve`)
    run.value("p99_ttft_ms")     # None when this file does not have it (shown as n/a)
    run.samples["ttft"]          # ms per successful request; {} when the file has none (run.no_samples: why)

Both formats name their aggregates the same (`completed`, `duration`, `request_throughput`,
`mean_ttft_ms`, ...: ours keeps vLLM's `--save-result` keys). The file is read tolerantly on
purpose, not through `results.read_result` (which needs every key of today's result): a file
from an older or newer version of either tool still compares, its missing numbers as n/a.
Per-request samples: ours are `requests[*].ttft_ms/tpot_ms/e2el_ms` of the successful
requests; vLLM's are derived by `vllm_result.vllm_samples`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from configs.errors import BenchmarkError
from tasks.benchmark.vllm_result import VLLM_MARKERS, is_vllm_result, vllm_samples

SAMPLED = ("ttft", "tpot", "e2el")  # the latencies whose per-request samples are bootstrapped
SOURCES = {"mlops": "mlops bench", "vllm": "vllm bench serve"}


@dataclass(frozen=True)
class LoadedRun:
    path: str
    source: str                                    # a key of SOURCES
    values: dict[str, float]                       # the file's numeric scalars, by JSON key
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)  # SAMPLED name -> ms
    no_samples: str | None = None                  # why `samples` is empty

    def value(self, key: str) -> float | None:
        return self.values.get(key)

    @property
    def requests_sampled(self) -> int:
        return len(self.samples.get("ttft", ()))


def _numbers(data: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _ms(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def our_samples(data: dict[str, Any]) -> tuple[dict[str, list[float]] | None, str | None]:
    """Per-request ms of our successful requests (TPOT only where the answer had 2+ tokens)."""
    requests = data.get("requests")
    if not isinstance(requests, list):
        return None, "no per-request 'requests' list (written by an older `mlops bench`?)"
    out: dict[str, list[float]] = {name: [] for name in SAMPLED}
    for i, row in enumerate(requests):
        if not isinstance(row, dict):
            return None, f"requests[{i}] is not an object; the file is damaged"
        if not row.get("success"):
            continue
        for name in SAMPLED:
            value = _ms(row.get(f"{name}_ms"))
            if value is not None:
                out[name].append(value)
    return out, None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BenchmarkError(f"cannot read benchmark result {path}: {exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise BenchmarkError(f"{path} is not a JSON file ({exc}); give a result JSON of `mlops bench "
                             "--result-file` or `vllm bench serve --save-result`") from exc
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path} holds a JSON {type(data).__name__}, not a benchmark result object")
    return data


def load_run(path: Path) -> LoadedRun:
    """The file as a `LoadedRun`; a file that is neither format fails naming what it lacks."""
    path = Path(path)
    data = _read(path)
    if "benchmark_run_id" in data:
        source, (samples, why) = "mlops", our_samples(data)
    elif is_vllm_result(data):
        source, (samples, why) = "vllm", vllm_samples(data)
    else:
        raise BenchmarkError(f"{path} is neither an `mlops bench` result (no 'benchmark_run_id') nor a "
                             f"`vllm bench serve --save-result` file (no {' or '.join(map(repr, VLLM_MARKERS))})")
    if samples is not None and not samples["ttft"]:
        samples, why = None, "no successful request"
    return LoadedRun(str(path), source, _numbers(data),
                     {k: tuple(v) for k, v in (samples or {}).items()}, why)
