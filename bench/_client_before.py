"""The benchmark client's request loop as it was before issue 14 (commit 30dd923), frozen.

bench/latency_truth.py runs it beside today's client against the same server, so the
before/after figures come from one run. Kept as it was on purpose (do not "fix" it): latency
counted from the planned send time, a busy-wait of up to 1.5 ms before each send, the SSE
splitter and a full `orjson.loads` per chunk, a per-request task started by the scheduler.
Only the pieces the loop needs are copied; the result is a list of `Before` records.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tasks.http.sse import SSESplitter, event_data, is_done


@dataclass
class Before:
    request_id: str
    success: bool = False
    error: str = ""
    ttft: float = 0.0           # from the planned send time, s
    latency: float = 0.0        # from the planned send time, s
    send_lag: float = 0.0       # actual send minus planned, s
    chunks: int = 0
    itl: list[float] = field(default_factory=list)
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    generated_text: str = ""


def _payload(model: str, request_id: str, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": f"hello {request_id}"}]}


async def _stream(client: aiohttp.ClientSession, url: str, payload: dict[str, Any], headers: dict[str, str],
                  out: Before, start: float) -> None:
    now = time.perf_counter
    splitter = SSESplitter()
    last = 0.0
    text_parts: list[str] = []
    try:
        async with client.post(url, data=orjson.dumps(payload), headers=headers) as resp:
            if resp.status != 200:
                out.error = f"HTTP {resp.status}"
                await resp.read()
                return
            async for piece in resp.content.iter_any():
                ts = now()
                for event in splitter.feed(piece):
                    data = event_data(event)
                    if data is None or is_done(data):
                        continue
                    msg = orjson.loads(data)
                    choices = msg.get("choices")
                    if choices:
                        if out.chunks == 0:
                            out.ttft = ts - start
                        else:
                            out.itl.append(ts - last)
                        out.chunks += 1
                        last = ts
                        c0 = choices[0]
                        piece_text = (c0.get("delta") or {}).get("content")
                        if piece_text:
                            text_parts.append(piece_text)
                    usage = msg.get("usage")
                    if usage:
                        out.prompt_tokens = usage.get("prompt_tokens")
                        out.output_tokens = usage.get("completion_tokens")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        out.error = type(exc).__name__
        return
    out.generated_text = "".join(text_parts)
    if out.chunks:
        out.latency = last - start
        out.success = True
    else:
        out.error = "stream ended without any choices"


async def _sleep_until(when: float) -> None:
    now = time.perf_counter
    delay = when - now()
    if delay > 0.0015:
        await asyncio.sleep(delay - 0.0015)
    while now() < when:
        await asyncio.sleep(0)


async def run_before(base_url: str, model: str, request_ids: Sequence[str], offsets: Sequence[float],
                     max_tokens: int, on_start: Callable[[str], None] | None = None,
                     on_result: Callable[[Before], None] | None = None) -> tuple[list[Before], float]:
    """One open-loop run at the planned `offsets` (s); (records in input order, duration s).
    `on_start`/`on_result` stand where the old loop called the benchmark logger."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    n = len(request_ids)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(n, 1), limit_per_host=0),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300))
    outputs = [Before(r) for r in request_ids]
    now = time.perf_counter
    try:
        warm = Before("warmup")
        await _stream(session, url, _payload(model, "warmup", max_tokens), {"content-type": "application/json"},
                      warm, now())

        async def one(i: int, planned: float) -> None:
            rid, out = request_ids[i], outputs[i]
            payload = _payload(model, rid, max_tokens)
            headers = {"content-type": "application/json", "x-request-id": rid}
            if on_start is not None:
                on_start(rid)
            out.send_lag = max(0.0, now() - planned)
            await _stream(session, url, payload, headers, out, planned)
            if on_result is not None:
                on_result(out)

        tasks = []
        gc.collect()
        gc.freeze()
        t0 = now()
        for i in range(n):
            planned = t0 + float(offsets[i])
            await _sleep_until(planned)
            tasks.append(asyncio.create_task(one(i, planned)))
        await asyncio.gather(*tasks)
        duration = now() - t0
    finally:
        gc.unfreeze()
        await session.close()
    return outputs, duration
