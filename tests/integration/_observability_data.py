"""Realistic logs for the observability tests, written by the typed loggers on a simulated clock.

The loggers stamp lines with `logging_lib.base.iso_now`; we swap it for a clock that starts now
and advances 5 s per tick, so ten minutes of training, serving and monitoring take a fraction
of a second. Files are then given the simulated end as mtime, as if written live.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

INCIDENTS = frozenset({"gpu_memory", "latency", "temperature", "5xx", "training_error"})
TICK_MS = 5_000
EXAMPLE_REQUEST_ID = "req_0123456789ab"


class SimClock:
    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def iso(self) -> str:
        s, ms = divmod(self.now_ms, 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ms:03d}Z"


@contextlib.contextmanager
def simulated_clock(start_ms: int) -> Iterator[SimClock]:
    import logging_lib.base as base

    clock = SimClock(start_ms)
    real = base.iso_now
    base.iso_now = clock.iso
    try:
        yield clock
    finally:
        base.iso_now = real


def write_logs(root: Path, *, minutes: int = 10, incidents: frozenset[str] = frozenset(), seed: int = 0) -> int:
    """Write `minutes` of all four log types (+ a vLLM text log) under root; returns the end time (ms)."""
    from logging_lib import APILogger, InferenceLogger, SystemLogger, TrainingLogger, bind_context

    unknown = set(incidents) - INCIDENTS
    if unknown:
        raise ValueError(f"unknown incidents {sorted(unknown)}; known: {sorted(INCIDENTS)}")
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000) // 1000 * 1000
    ticks = minutes * 60_000 // TICK_MS
    with simulated_clock(start_ms) as clock:
        train = TrainingLogger("qlora_tiny", root, console=False)
        infer = InferenceLogger("gateway", root)
        api = APILogger("gateway", root)
        system = SystemLogger("gpu_monitor", root)
        run_id = "run" + "%029x" % rng.getrandbits(116)
        system.log_gpu_unavailable("NVML unavailable on the CPU node (expected there)")
        loss = 3.2
        with bind_context(run_id=run_id):
            train.log_epoch_start(epoch=1, total_epochs=1)
        for tick in range(ticks):
            clock.now_ms = start_ms + tick * TICK_MS + 1
            with bind_context(run_id=run_id):
                loss *= 0.985
                train.log_step(epoch=round(1 + tick / ticks, 3), step=tick + 1, loss=round(loss, 4),
                               learning_rate=2e-4 * (1 - tick / ticks), gpu_memory_used=14_000 + rng.uniform(0, 500),
                               gpu_memory_total=24_576)
                if tick % 12 == 11:
                    train.log_validation(epoch=round(1 + tick / ticks, 3), val_loss=round(loss * 1.08, 4),
                                         val_accuracy=round(0.5 + tick / ticks / 3, 3))
                if "training_error" in incidents and tick == ticks - 3:
                    try:
                        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
                    except RuntimeError as exc:
                        train.log_error(exc, step=tick + 1)
            for gpu in (0, 1):
                mem = 95.5 if ("gpu_memory" in incidents and gpu == 1) else rng.uniform(40, 60)
                temp = 92.0 if ("temperature" in incidents and gpu == 0) else rng.uniform(55, 70)
                system.log_gpu_metrics(gpu_id=gpu, gpu_memory_used=round(mem * 245.76, 1), gpu_memory_total=24_576,
                                       gpu_memory_percent=round(mem, 2), gpu_utilization=round(rng.uniform(60, 99), 1),
                                       temperature=round(temp, 1), power_watts=round(rng.uniform(180, 300), 1))
            system.log_system_metrics(cpu_percent=round(rng.uniform(10, 80), 1), memory_used_mib=9_000.0,
                                      memory_total_mib=24_105.6, memory_percent=37.3, disk_used_gib=120.0,
                                      disk_total_gib=250.0, disk_percent=48.0)
            for i in range(4):
                clock.now_ms = start_ms + tick * TICK_MS + 100 + i * 1000
                model = "ft-model" if i % 2 else "base-model"
                rid = "req_%012x" % rng.getrandbits(48)
                if tick == 0 and i == 0:
                    rid = EXAMPLE_REQUEST_ID  # the id docs/observability.md follows through the logs
                slow = "latency" in incidents and model == "ft-model"
                latency = rng.uniform(1800, 2200) if slow else rng.uniform(120, 400)
                if tick == 7 and i == 0:
                    latency = 1250.0  # one slow request on a healthy day
                status = 200
                if "5xx" in incidents and i in (1, 3) and tick % 2 == 0:
                    status = 503
                elif tick == 3 and i == 2:
                    status = 500  # one stray server error: 1 in 480, far below the 5% alert
                elif tick == 5 and i == 1:
                    status = 404
                with bind_context(request_id=rid):
                    api.log_request(rid, "POST", "/v1/chat/completions", request_bytes=180 + i)
                    infer.log_request(rid, "What is machine learning?", model)
                    clock.now_ms += int(latency)
                    if status >= 500:
                        infer.log_error(rid, ConnectionError("upstream vLLM returned 503"), model_name=model)
                    else:
                        tokens = rng.randint(20, 120)
                        infer.log_response(rid, latency_ms=round(latency, 2), tokens_generated=tokens,
                                           model_name=model, ttft_ms=round(latency * 0.15, 2), prompt_tokens=12)
                    api.log_response(rid, status, duration_ms=round(latency + 2.5, 2), response_bytes=900)
        end_ms = start_ms + ticks * TICK_MS
        clock.now_ms = end_ms - 500
        with bind_context(run_id=run_id):
            train.log_epoch_end(epoch=1, avg_loss=round(loss * 1.4, 4), time_elapsed=minutes * 60.0)
        for lg in (train, infer, api, system):
            lg.close()
    vllm_dir = root / "vllm"
    vllm_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(start_ms / 1000))
    (vllm_dir / f"vllm_{stamp}.log").write_text(
        "INFO 11-26 08:15:22 [api_server.py:1090] Starting vLLM API server on http://127.0.0.1:8000\n"
        "WARNING 11-26 08:15:23 [cpu.py:120] Pin memory is not supported on CPU.\n"
        "INFO 11-26 08:15:40 [launcher.py:29] Available routes are: /v1/chat/completions, /metrics\n")
    for path in root.rglob("*.log"):
        os.utime(path, (end_ms / 1000, end_ms / 1000))
    return end_ms
