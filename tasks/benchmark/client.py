"""One streaming request to an OpenAI-compatible server, timed the way vLLM's benchmark does.

A failed request is data (`success=False`, `status`, `error`), never an exception. Times are
seconds (`ttft`, `itl`, `latency`); aggregates elsewhere turn them into `*_ms`.

TTFT is the time to the first SSE message that has `choices`; ITL the gaps between later
messages with `choices`; latency (E2EL) the time to the last message with `choices` (the last
token), all counted from the ACTUAL send (the moment the request is handed to the HTTP client),
as vLLM's benchmark counts them. How late that send was against the request's scheduled start
(its planned send time, or when a concurrency slot was granted) is `send_lag`; a latency a user
would have seen from the schedule is the value plus `send_lag`.

The trailing `usage` message carries no token, so it does not move the end (as in current
vLLM's benchmark): a server slow to send it does not inflate E2EL or TPOT. Token counts come
from that `usage` message, asked for with `stream_options.include_usage`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tasks.http.sse import SSESplitter, event_data, is_done


@dataclass
class RequestInput:
    request_id: str
    prompt: str | list[dict[str, Any]]
    max_tokens: int
    extra_body: dict[str, Any] = field(default_factory=dict)
    model: str | None = None   # this request's served name; None: the run's model


@dataclass
class RequestOutput:
    request_id: str
    success: bool = False
    status: int | None = None
    error: str = ""
    ttft: float = 0.0
    itl: list[float] = field(default_factory=list)
    latency: float = 0.0
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    chunks: int = 0
    generated_text: str = ""
    planned_s: float = 0.0      # scheduled start, seconds after the benchmark started
    send_lag: float = 0.0       # actual send minus scheduled start, seconds (ttft/latency count from the send)
    usage_missing: bool = False


def build_payload(endpoint: str, model: str, req: RequestInput, temperature: float, ignore_eos: bool,
                  stream: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": req.model or model, "max_tokens": req.max_tokens, "temperature": temperature}
    if endpoint == "chat":
        payload["messages"] = req.prompt if isinstance(req.prompt, list) else [{"role": "user", "content": req.prompt}]
    else:
        payload["prompt"] = req.prompt if isinstance(req.prompt, str) else "\n".join(
            str(m.get("content", "")) for m in req.prompt)
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    if ignore_eos:
        payload["ignore_eos"] = True
    payload.update(req.extra_body)
    return payload


def make_client(max_connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """The run's one HTTP client: `timeout_s` bounds each read (and connecting, up to 30 s).

    aiohttp, not httpx: httpx cost ~1 ms CPU per request here (its pool scans every pooled
    connection), which needed a client-sharding workaround and still fell behind schedule;
    bench/bench_client_capacity.py measured both in one run (2 cores, loaded machine): highest
    rate kept on schedule (send lag p50 <= 2 ms) aiohttp 1200 req/s, sharded httpx 400 req/s.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, 30.0), sock_read=timeout_s))


async def stream_request(client: aiohttp.ClientSession, url: str, payload: dict[str, Any], headers: dict[str, str],
                         out: RequestOutput, start: float, chat: bool) -> RequestOutput:
    """Send one streaming request; fill `out`. `start` is its scheduled start (a time.perf_counter()
    value): latencies count from the actual send, and how late that was is `out.send_lag`."""
    now = time.perf_counter
    sent = now()
    out.send_lag = max(0.0, sent - start)
    reader = _StreamReader(out, sent, chat)
    try:
        async with client.post(url, data=orjson.dumps(payload), headers=headers) as resp:
            if reader.status(resp.status):
                async for piece in resp.content.iter_any():
                    if not reader.feed(piece, now()):
                        return out
            else:
                reader.refused(await resp.read())
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        out.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return out
    except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        out.error = f"malformed stream: {exc}"
        return out
    return reader.finish()


class _StreamReader:
    """The SSE events of one response, timed and counted into its RequestOutput."""

    __slots__ = ("chat", "ended", "last", "out", "splitter", "start", "text_parts")

    def __init__(self, out: RequestOutput, start: float, chat: bool) -> None:
        self.out, self.start, self.chat = out, start, chat
        self.splitter = SSESplitter()
        self.last = 0.0
        self.text_parts: list[str] = []
        self.ended = False  # by an error answer or an error event: nothing more to count

    def status(self, code: int) -> bool:
        self.out.status = code
        return code == 200

    def refused(self, body: bytes) -> None:
        self.out.error = _error_text(self.out.status or 0, body)
        self.ended = True

    def feed(self, piece: bytes, ts: float) -> bool:
        """Count the events `piece` completes; False once an error event ended the request."""
        out = self.out
        for event in self.splitter.feed(piece):
            data = event_data(event)
            if data is None or is_done(data):
                continue  # comments (":"), event names, blank lines, [DONE]
            msg = orjson.loads(data)
            if "error" in msg and not msg.get("choices"):
                err = msg["error"]
                out.error = str(err.get("message", err) if isinstance(err, dict) else err)
                self.ended = True
                return False
            choices = msg.get("choices")
            if choices:
                if out.chunks == 0:
                    out.ttft = ts - self.start
                else:
                    out.itl.append(ts - self.last)
                out.chunks += 1
                self.last = ts  # only token messages move the end of the request
                c0 = choices[0]
                piece_text = (c0.get("delta") or {}).get("content") if self.chat else c0.get("text")
                if piece_text:
                    self.text_parts.append(piece_text)
            usage = msg.get("usage")
            if usage:
                out.prompt_tokens = usage.get("prompt_tokens")
                out.output_tokens = usage.get("completion_tokens")
        return True

    def finish(self) -> RequestOutput:
        out = self.out
        if self.ended:
            return out
        out.generated_text = "".join(self.text_parts)
        if out.chunks == 0:
            out.error = "stream ended without any choices"
            return out
        out.latency = self.last - self.start
        if out.output_tokens is None:  # server ignored include_usage: fall back to one token per chunk
            out.output_tokens = out.chunks
            out.usage_missing = True
        out.success = True
        return out


def _error_text(status: int, body: bytes) -> str:
    try:
        msg = orjson.loads(body)
        err = msg.get("error", msg) if isinstance(msg, dict) else msg
        if isinstance(err, dict):
            err = err.get("message", err)
        return f"HTTP {status}: {err}"
    except orjson.JSONDecodeError:
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
