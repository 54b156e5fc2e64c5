"""Aggregate metrics, defined exactly as vLLM's `vllm bench serve` defines them.

- TTFT: per successful request; ITL: all inter-chunk gaps of all successful requests, pooled;
  TPOT per request: (E2EL - TTFT) / (output_tokens - 1), only where output_tokens > 1;
  E2EL: per successful request. TTFT and E2EL count from each request's actual send, as vLLM's.
- sched_ttft / sched_e2el: the same counted from the scheduled start (TTFT/E2EL + send lag):
  what a user would have seen, the client's own lateness charged to the server. TPOT and ITL
  do not depend on the start, so they have no schedule-based twin.
- request/output/total token throughput: over the wall duration of the timed run.
- request_goodput: successful requests meeting every given SLO (ms), per second, judged on the
  actual-send latencies (as vLLM's goodput).

Returns a typed `results.BenchmarkMetrics`; its JSON keys follow vLLM's `--save-result`
(`mean_ttft_ms`, `median_ttft_ms`, `std_ttft_ms`, `p99_ttft_ms`, ...); we add `p50_*`/`p95_*`
(any configured percentile), `{mean,median,std,pNN}_sched_{ttft,e2el}_ms` and `send_lag_*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tasks.benchmark.client import RequestOutput
from tasks.benchmark.results import BenchmarkMetrics, Goodput, LatencyStats


def _describe(values_s: Sequence[float], percentiles: Iterable[float]) -> LatencyStats:
    arr = np.asarray(values_s, dtype=float) * 1000.0 if len(values_s) else np.zeros(1)
    return LatencyStats(float(np.mean(arr)), float(np.median(arr)), float(np.std(arr)),
                        tuple((float(p), float(np.percentile(arr, p))) for p in percentiles))


def tpot_of(o: RequestOutput) -> float | None:
    if o.success and o.output_tokens is not None and o.output_tokens > 1:
        return (o.latency - o.ttft) / (o.output_tokens - 1)
    return None


def calculate_metrics(outputs: Sequence[RequestOutput], duration_s: float, *,
                      goodput_slos_ms: dict[str, float] | None = None,
                      percentiles: Iterable[float] = (50.0, 95.0, 99.0)) -> BenchmarkMetrics:
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    percentiles = sorted({*percentiles, 99.0})
    ok = [o for o in outputs if o.success]
    tpots = [t for t in (tpot_of(o) for o in ok) if t is not None]
    total_input = sum(o.prompt_tokens or 0 for o in ok)
    total_output = sum(o.output_tokens or 0 for o in ok)
    lags = np.asarray([o.send_lag for o in outputs] or [0.0]) * 1000.0
    slos = goodput_slos_ms or {}
    goodput = None
    if slos:
        good = sum(1 for o in ok if _meets(o, slos))
        goodput = Goodput(dict(slos), good, good / duration_s, good / len(outputs) if outputs else 0.0)
    return BenchmarkMetrics(
        completed=len(ok),
        failed=len(outputs) - len(ok),
        success_rate=(len(ok) / len(outputs)) if outputs else 0.0,
        duration_s=duration_s,
        total_input_tokens=total_input,
        total_output_tokens=total_output,
        requests_per_s=len(ok) / duration_s,
        output_tokens_per_s=total_output / duration_s,
        total_tokens_per_s=(total_input + total_output) / duration_s,
        ttft=_describe([o.ttft for o in ok], percentiles),
        tpot=_describe(tpots, percentiles),
        itl=_describe([g for o in ok for g in o.itl], percentiles),
        e2el=_describe([o.latency for o in ok], percentiles),
        sched_ttft=_describe([o.ttft + o.send_lag for o in ok], percentiles),
        sched_e2el=_describe([o.latency + o.send_lag for o in ok], percentiles),
        send_lag_mean_ms=float(np.mean(lags)),
        send_lag_p50_ms=float(np.percentile(lags, 50)),
        send_lag_p99_ms=float(np.percentile(lags, 99)),
        send_lag_max_ms=float(np.max(lags)),
        good_requests_per_s=goodput.good_requests_per_s if goodput else None,
        goodput=goodput,
    )


def _meets(o: RequestOutput, slos_ms: dict[str, float]) -> bool:
    if "ttft" in slos_ms and o.ttft * 1000.0 > slos_ms["ttft"]:
        return False
    if "e2el" in slos_ms and o.latency * 1000.0 > slos_ms["e2el"]:
        return False
    if "tpot" in slos_ms:
        t = tpot_of(o)
        if t is not None and t * 1000.0 > slos_ms["tpot"]:
            return False
    return True


def parse_goodput(specs: Sequence[str]) -> dict[str, float]:
    """`["ttft:200", "tpot:50"]` -> {"ttft": 200.0, "tpot": 50.0}; names what is wrong otherwise."""
    out: dict[str, float] = {}
    for spec in specs:
        for item in spec.split():
            name, sep, value = item.partition(":")
            if not sep or name not in ("ttft", "tpot", "e2el"):
                raise ValueError(f"--goodput item {item!r}: use NAME:MS with NAME one of ttft, tpot, e2el")
            try:
                ms = float(value)
            except ValueError:
                raise ValueError(f"--goodput item {item!r}: {value!r} is not a number of milliseconds") from None
            if ms <= 0:
                raise ValueError(f"--goodput item {item!r}: milliseconds must be > 0")
            out[name] = ms
    return out
