"""One streaming request to an OpenAI-compatible server, timed the way vLLM's benchmark does.

A failed request is data (`success=False`, `status`, `error`), never an exception. Times are
seconds (`ttft`, `itl`, `latency`); aggregates elsewhere turn them into `*_ms`.

TTFT is the time to the first SSE message that has `choices`; ITL the gaps between later
messages with `choices`; latency (E2EL) the time to the last message with `choices` (the last
token), all counted from the request's start, which the runner sets to its planned send time.
The trailing `usage` message carries no token, so it does not move the end (as in current
vLLM's benchmark): a server slow to send it does not inflate E2EL or TPOT. Token counts come
from that `usage` message, asked for with `stream_options.include_usage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tasks.http.sse import SSESplitter, event_data, is_done


@dataclass
class RequestInput:
    request_id: str
    prompt: str | list[dict[str, Any]]
    max_tokens: int
    extra_body: dict[str, Any] = field(default_factory=dict)


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
    planned_s: float = 0.0      # start time, seconds after the benchmark started
    send_lag: float = 0.0       # actual send minus start, seconds
    usage_missing: bool = False


def build_payload(endpoint: str, model: str, req: RequestInput, temperature: float, ignore_eos: bool,
                  stream: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens, "temperature": temperature}
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


async def stream_request(client: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: dict[str, str],
                         out: RequestOutput, start: float, chat: bool) -> RequestOutput:
    """Send one streaming request; fill `out`. `start` is a time.perf_counter() value."""
    now = time.perf_counter
    content = orjson.dumps(payload)
    last = 0.0
    text_parts: list[str] = []
    try:
        async with client.stream("POST", url, content=content, headers=headers) as resp:
            out.status = resp.status_code
            if resp.status_code != 200:
                body = await resp.aread()
                out.error = _error_text(resp.status_code, body)
                return out
            splitter = SSESplitter()
            async for piece in resp.aiter_raw():
                ts = now()
                for event in splitter.feed(piece):
                    data = event_data(event)
                    if data is None or is_done(data):
                        continue  # comments (":"), event names, blank lines, [DONE]
                    msg = orjson.loads(data)
                    if "error" in msg and not msg.get("choices"):
                        err = msg["error"]
                        out.error = str(err.get("message", err) if isinstance(err, dict) else err)
                        return out
                    choices = msg.get("choices")
                    if choices:
                        if out.chunks == 0:
                            out.ttft = ts - start
                        else:
                            out.itl.append(ts - last)
                        out.chunks += 1
                        last = ts  # only token messages move the end of the request
                        c0 = choices[0]
                        piece_text = (c0.get("delta") or {}).get("content") if chat else c0.get("text")
                        if piece_text:
                            text_parts.append(piece_text)
                    usage = msg.get("usage")
                    if usage:
                        out.prompt_tokens = usage.get("prompt_tokens")
                        out.output_tokens = usage.get("completion_tokens")
    except httpx.HTTPError as exc:
        out.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return out
    except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        out.error = f"malformed stream: {exc}"
        return out
    out.generated_text = "".join(text_parts)
    if out.chunks == 0:
        out.error = "stream ended without any choices"
        return out
    out.latency = last - start
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
