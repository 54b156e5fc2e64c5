"""One client run for bench/latency_truth.py, in its own process: ours as it is ("after") or the
frozen pre-issue-14 loop ("before", bench/_client_before.py), logging as `mlops bench` does.

    python -m bench._truth_clients after|before URL PREFIX RATE N TOKENS OUT.json

`gaps` turns a run and the server's truth into the figures latency_truth.py prints.
Writes per request (in send order) `request_id`, `ttft_ms` and `e2el_ms` from the actual send,
`send_lag_ms` (actual send minus planned), and the process's CPU seconds for the timed run.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import orjson

from bench._client_before import Before, run_before
from logging_lib import InferenceLogger, bind_context
from tasks.benchmark.bench import log_callbacks
from tasks.benchmark.client import RequestInput
from tasks.benchmark.runner import LoadShape, event_loop_factory, plan_send_times, run_load_sync

MODEL = "stub-model"
SEED = 1


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_after(url: str, ids: list[str], rate: float, tokens: int, logger: InferenceLogger) -> list[dict]:
    inputs = [RequestInput(rid, f"hello {rid}", tokens) for rid in ids]
    on_start, on_result = log_callbacks(logger, MODEL)
    shape = LoadShape(base_url=url, model=MODEL, request_rate=rate, seed=SEED, warmup_requests=1)
    outs, _ = run_load_sync(shape, inputs, on_start=on_start, on_result=on_result)
    return [{"request_id": o.request_id, "success": o.success, "ttft_ms": o.ttft * 1000, "e2el_ms": o.latency * 1000,
             "send_lag_ms": o.send_lag * 1000} for o in outs]


def run_old(url: str, ids: list[str], rate: float, tokens: int, logger: InferenceLogger) -> list[dict]:
    """The old loop counted from the planned time: its actual-send TTFT is TTFT minus send lag."""
    prompts = {rid: f"hello {rid}" for rid in ids}

    def on_start(rid: str) -> None:  # the calls the old loop's log callbacks made
        logger.log_benchmark_request(rid, prompts[rid], MODEL)

    def on_result(o: Before) -> None:
        if o.success:
            logger.log_benchmark_response(o.request_id, latency_ms=round(o.latency * 1000, 3),
                                          tokens_generated=o.output_tokens, model_name=MODEL,
                                          ttft_ms=round(o.ttft * 1000, 3), prompt_tokens=o.prompt_tokens,
                                          send_lag_ms=round(o.send_lag * 1000, 3))
        else:
            logger.log_benchmark_error(o.request_id, o.error, model_name=MODEL)

    offsets = plan_send_times(len(ids), rate, 1.0, SEED)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        outs, _ = runner.run(run_before(url, MODEL, ids, offsets, tokens, on_start, on_result))
    return [{"request_id": o.request_id, "success": o.success, "ttft_ms": (o.ttft - o.send_lag) * 1000,
             "e2el_ms": (o.latency - o.send_lag) * 1000, "send_lag_ms": o.send_lag * 1000} for o in outs]


def gaps(run: dict, truth: dict) -> dict[str, float]:
    ok = [r for r in run["requests"] if r["success"] and r["request_id"] in truth]
    actual = np.array([r["ttft_ms"] - truth[r["request_id"]].ttft_ms for r in ok])
    out = {"n": len(ok), "actual_p50": np.percentile(actual, 50), "actual_p99": np.percentile(actual, 99)}
    if "send_lag_ms" in ok[0]:
        lag = np.array([r["send_lag_ms"] for r in ok])
        sched = actual + lag
        out.update(sched_p50=np.percentile(sched, 50), sched_p99=np.percentile(sched, 99),
                   lag_p50=np.percentile(lag, 50), lag_p99=np.percentile(lag, 99),
                   cpu_us=run["cpu_s"] / len(run["requests"]) * 1e6)
    return {k: float(v) for k, v in out.items()}


def main(argv: list[str]) -> None:
    which, url, prefix, rate, n, tokens, out = argv
    ids = [f"{prefix}{i}" for i in range(int(n))]
    run = {"after": run_after, "before": run_old}[which]
    with tempfile.TemporaryDirectory() as logs, InferenceLogger("benchmark", logs) as logger, \
            bind_context(benchmark_run_id=prefix):
        cpu0 = _cpu_s()
        rows = run(url, ids, float(rate), int(tokens), logger)
        cpu = _cpu_s() - cpu0
    Path(out).write_bytes(orjson.dumps({"cpu_s": cpu, "requests": rows}))


if __name__ == "__main__":
    main(sys.argv[1:])
