"""The open-loop load generator.

Send times are planned before the run: gaps drawn from a gamma distribution with shape
`burstiness` and mean 1/request_rate (shape 1 is a Poisson process; rate inf sends all at
once), as vLLM's benchmark does. Each request's latencies count from its actual send (as vLLM's do);
how far behind its scheduled start the client sent it is `send_lag`, so the schedule-based
latency (what a user would have seen, the client's own lateness included) is latency + lag.
With `max_concurrency`, a request waits for a free slot first (a deliberate part of the load
shape, as in vLLM) and its scheduled start becomes the moment the slot was granted.

Keeping the schedule on 2 cores shared with the server: sends wait on the loop's timer and
yield to the loop only for the last 0.5 ms (`_sleep_until`), and the garbage collector runs
only between sends (`_collect_when_idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from configs.errors import BenchmarkError
from tasks.benchmark.client import RequestInput, RequestOutput, build_payload, make_client, stream_request


def plan_send_times(n: int, request_rate: float, burstiness: float = 1.0, seed: int = 0) -> np.ndarray:
    """Offsets in seconds from the run's start; the first request goes at 0."""
    if n <= 0:
        raise BenchmarkError(f"number of prompts must be > 0, got {n}")
    if request_rate <= 0 or burstiness <= 0:
        raise BenchmarkError(f"request_rate and burstiness must be > 0 (got {request_rate}, {burstiness})")
    if math.isinf(request_rate):
        return np.zeros(n)
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (request_rate * burstiness), size=n - 1)
    return np.concatenate([[0.0], np.cumsum(gaps)])


@dataclass(frozen=True)
class LoadShape:
    base_url: str
    model: str
    endpoint: str = "chat"               # "chat" or "completions"
    request_rate: float = math.inf
    burstiness: float = 1.0
    max_concurrency: int | None = None
    seed: int = 0
    warmup_requests: int = 1
    temperature: float = 0.0
    ignore_eos: bool = False
    request_timeout_s: float = 300.0
    api_key: str | None = None

    @property
    def url(self) -> str:
        path = "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"
        return self.base_url.rstrip("/") + path


OnResult = Callable[[RequestInput, RequestOutput], None]
OnStart = Callable[[RequestInput], None]


def _headers(shape: LoadShape, request_id: str) -> dict[str, str]:
    h = {"content-type": "application/json", "x-request-id": request_id}
    if shape.api_key:
        h["authorization"] = f"Bearer {shape.api_key}"
    return h


async def run_load(shape: LoadShape, inputs: Sequence[RequestInput], *, on_start: OnStart | None = None,
                   on_result: OnResult | None = None,
                   client: aiohttp.ClientSession | None = None) -> tuple[list[RequestOutput], float]:
    """Run warm-up, then the timed run; returns (outputs in input order, wall duration s)."""
    n = len(inputs)
    offsets = plan_send_times(n, shape.request_rate, shape.burstiness, shape.seed)
    chat = shape.endpoint == "chat"
    own = client is None
    session = client or make_client(max(shape.max_concurrency or n, 1), shape.request_timeout_s)
    try:
        await _warmup(session, shape, inputs, chat)
        sem = asyncio.Semaphore(shape.max_concurrency) if shape.max_concurrency else None
        outputs = [RequestOutput(request_id=r.request_id) for r in inputs]
        now = time.perf_counter

        async def one(i: int, planned_abs: float) -> None:
            req, out = inputs[i], outputs[i]
            payload = build_payload(shape.endpoint, shape.model, req, shape.temperature, shape.ignore_eos)
            headers = _headers(shape, req.request_id)
            start = planned_abs
            if sem is not None:
                queued = sem.locked()
                await sem.acquire()
                if queued:  # the cap held it back: its clock starts when the slot is granted
                    start = max(planned_abs, now())
            try:
                if on_start is not None:
                    on_start(req)
                out.planned_s = start - t0
                await stream_request(session, shape.url, payload, headers, out, start, chat)
            finally:
                if sem is not None:
                    sem.release()
            if on_result is not None:
                on_result(req, out)

        tasks: list[asyncio.Task[None]] = []
        gc.collect()
        gc.freeze()  # long-lived objects out of the collector's way: fewer, shorter pauses mid-run
        t0 = now()
        with _collect_when_idle():
            for i in range(n):
                planned = t0 + float(offsets[i])
                if planned - now() > _IDLE_GC_S:
                    _collect_young()
                await _sleep_until(planned)
                tasks.append(asyncio.create_task(one(i, planned)))
            await asyncio.sleep(0)  # the last request out too
        await asyncio.gather(*tasks)
        duration = now() - t0
    finally:
        gc.unfreeze()
        if own:
            await session.close()
    return outputs, duration


_EARLY_S = 0.0005


async def _sleep_until(when: float) -> None:
    """Sleep until `when` (perf_counter): on the loop's timer to 0.5 ms before it (timers wake
    up to ~1 ms late: whole-ms timeouts), then yield to the loop until it is due, so I/O keeps
    being served. The old 1.5 ms of yielding cost ~30% of a core at 200 requests/s, CPU a server
    on the same cores needs; none at all let the p99 lateness grow. Measured at 200 req/s, 16
    tokens, the stub on the same 2 cores, three alternations (median): send lag p99 1.7 ms
    (0.5 ms), 1.7 ms (1.5 ms), 3.0 ms (none); client CPU 1550, 2050, 1330 us per request."""
    now = time.perf_counter
    delay = when - now()
    if delay > _EARLY_S:
        await asyncio.sleep(delay - _EARLY_S)
    while now() < when:
        await asyncio.sleep(0)


_IDLE_GC_S = 0.002  # collect only when the next send is at least this far away


@contextlib.contextmanager
def _collect_when_idle() -> Iterator[None]:
    """While requests are being sent, the collector runs only where the scheduler calls
    `_collect_young` (the next send >= _IDLE_GC_S away), so a collection never holds a send back;
    the full (oldest generation) collection waits until every request is out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _collect_young() -> None:
    """What the collector's own thresholds would have done by now, for the young generations."""
    count0, count1, _ = gc.get_count()
    threshold0, threshold1, _ = gc.get_threshold()
    if count1 >= threshold1:
        gc.collect(1)
    elif count0 >= threshold0:
        gc.collect(0)


async def _warmup(client: aiohttp.ClientSession, shape: LoadShape, inputs: Sequence[RequestInput], chat: bool) -> None:
    """Warm connections and the server, for every model the inputs name (their own `model`, else
    the run's); all warm-ups of a model failing means a wrong URL/model: fail fast."""
    if shape.warmup_requests <= 0 or not inputs:
        return
    for model in dict.fromkeys(r.model for r in inputs):
        await _warmup_model(client, shape, [r for r in inputs if r.model == model], chat, model or shape.model)


async def _warmup_model(client: aiohttp.ClientSession, shape: LoadShape, inputs: Sequence[RequestInput], chat: bool,
                        model: str) -> None:
    errors = []
    for k in range(shape.warmup_requests):
        src = inputs[k % len(inputs)]
        req = RequestInput(f"warmup-{uuid.uuid4().hex[:8]}", src.prompt, src.max_tokens, src.extra_body, model)
        out = RequestOutput(request_id=req.request_id)
        payload = build_payload(shape.endpoint, model, req, shape.temperature, shape.ignore_eos)
        await stream_request(client, shape.url, payload, _headers(shape, req.request_id), out,
                             time.perf_counter(), chat)
        if out.success:
            return
        errors.append(out.error)
    raise BenchmarkError(f"all {shape.warmup_requests} warm-up request(s) to {shape.url} (model {model!r}) "
                         f"failed: {errors[-1]}; check --base-url, --model and that the server is up")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (the serving extra has it): less CPU per request, so one client
    process keeps its schedule at higher rates; else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_load_sync(shape: LoadShape, inputs: Sequence[RequestInput], **kwargs: Any) -> tuple[list[RequestOutput], float]:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(run_load(shape, inputs, **kwargs))
