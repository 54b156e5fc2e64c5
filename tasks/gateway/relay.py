"""Relaying vLLM's SSE stream to the client, and judging how it ended.

Events go on as they come (split by tasks/http/sse.py); on the way the relay notes the first
token's time (TTFT), the text (only when prompts are logged), the `usage` chunk and any error
event. A stream counts as complete only when the server said `[DONE]`: one that stops before
it (the backend died, or closed the connection cleanly mid-generation) or that carries an
error event ends as an `inference_error`, with a final OpenAI-shaped error event for the
client, and its api_response gets that error's status, not the 200 already sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi.responses import Response

from tasks.gateway.disconnect import DisconnectWatch, Receive
from tasks.gateway.errors import Send, error_body
from tasks.gateway.outcome import log_done, stream_failed
from tasks.gateway.state import Gateway
from tasks.http.sse import EVENT_END, SSESplitter, data_event, event_data, is_done
from tasks.http.upstream import UpstreamError, UpstreamResponse


class ProxyStream(Response):
    """Streams upstream SSE bytes to the client; stops (and closes upstream) on client disconnect."""

    media_type = "text/event-stream"

    def __init__(self, iterator: AsyncIterator[bytes], on_disconnect: Callable[[], None]) -> None:
        # No Response.__init__: it would declare content-length 0 for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        self.iterator = iterator
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        watch = DisconnectWatch(receive)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self.iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            watch.armed = False  # finished: a disconnect now changes nothing
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watch.absorb():
                raise
            scope["state"]["outcome_status"] = 499
            self.on_disconnect()
        except OSError:  # the client went away while we were sending
            if watch.armed:
                scope["state"]["outcome_status"] = 499
                self.on_disconnect()
        finally:
            watch.stop()
            aclose = getattr(self.iterator, "aclose", None)
            if aclose is not None:
                await aclose()


class _Tally:
    """What the relay learns from the events it passes on."""

    __slots__ = ("chat", "done", "error", "first", "strip_usage", "text", "token_chunks", "usage")

    def __init__(self, chat: bool, strip_usage: bool, keep_text: bool) -> None:
        self.chat, self.strip_usage = chat, strip_usage
        self.first: float | None = None
        self.usage: dict[str, Any] | None = None
        self.text: list[str] | None = [] if keep_text else None
        self.token_chunks = 0
        self.error: dict[str, Any] | None = None
        self.done = False

    def keep(self, event: bytes) -> bool:
        """Note one event; False when the client must not get it (a usage chunk it did not ask for)."""
        data = event_data(event)
        msg = _json_object(data)
        if msg is None:
            self.done = self.done or is_done(data)
            return True
        choices = msg.get("choices")
        if choices and isinstance(choices, list):
            self.token_chunks += 1
            if self.first is None:
                self.first = time.perf_counter()
            if self.text is not None:
                part = _chunk_text(choices[0], self.chat)
                if part:
                    self.text.append(part)
        if msg.get("usage"):
            self.usage = msg["usage"] if isinstance(msg["usage"], dict) else None
            if self.strip_usage and not choices:
                return False
        if isinstance(msg.get("error"), dict) and self.error is None:
            self.error = msg["error"]
        return True


async def relay(gw: Gateway, resp: UpstreamResponse, rid: str, model: str, t0: float, strip_usage: bool,
                chat: bool, state: dict[str, Any]) -> AsyncIterator[bytes]:
    """Upstream SSE events to the client as they come (see the module docstring)."""
    tally = _Tally(chat, strip_usage, gw.inference.log_prompts)
    splitter = SSESplitter()
    try:
        async for piece in resp.aiter_raw():
            events = splitter.feed(piece)
            if events:
                out = [event + EVENT_END for event in events if tally.keep(event)]
                if out:
                    yield b"".join(out)
        tail = splitter.tail
        if tail.strip():
            tally.done = tally.done or is_done(event_data(tail))
            yield tail
    except UpstreamError as exc:
        stream_failed(gw, rid, model, state, exc.status, f"upstream failed mid-stream: {exc}")
        yield data_event(error_body(exc.status, f"upstream failed mid-stream: {exc}", exc.kind))
        return
    finally:
        await resp.aclose()
    last = _finish(gw, tally, rid, model, t0, state)
    if last is not None:
        yield last


def _finish(gw: Gateway, tally: _Tally, rid: str, model: str, t0: float, state: dict[str, Any]) -> bytes | None:
    """Log how a stream that ran to its end ended; the error event to add for the client, if any."""
    if tally.error is not None:  # the server reported the failure in the stream (and it was sent on)
        code = tally.error.get("code")
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        stream_failed(gw, rid, model, state, status,
                      f"upstream error mid-stream: {str(tally.error.get('message'))[:300]}")
        return None
    if not tally.done:
        message = f"{gw.cfg.backend_url} closed the stream before [DONE]"
        stream_failed(gw, rid, model, state, 502, f"upstream failed mid-stream: {message}")
        return data_event(error_body(502, f"upstream failed mid-stream: {message}", "bad_gateway",
                                     "upstream_closed"))
    latency_ms = (time.perf_counter() - t0) * 1000.0
    ttft_ms = (tally.first - t0) * 1000.0 if tally.first is not None else None
    log_done(gw, rid, model, tally.usage, latency_ms, ttft_ms, "".join(tally.text) if tally.text is not None else None,
             state, counted_tokens=tally.token_chunks)
    return None


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    """An event's data as a JSON object; None for no data, [DONE], non-JSON or non-objects."""
    if data is None:
        return None
    data = data.strip()
    if not data or data == b"[DONE]":
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _chunk_text(choice: Any, chat: bool) -> str | None:
    if not isinstance(choice, dict):
        return None
    part = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
    return part if isinstance(part, str) else None
