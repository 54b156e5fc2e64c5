"""The two completion routes: read and check the body, then stream (relay.py) or answer whole.

A client that goes away while a non-streaming answer is generated closes the upstream request
too (vLLM aborts it), as a mid-stream disconnect does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi.responses import Response

from tasks.gateway.disconnect import DisconnectWatch, Receive
from tasks.gateway.errors import JSON, BodyTooLarge, error_response
from tasks.gateway.metrics import OTHER
from tasks.gateway.outcome import log_done, upstream_failure
from tasks.gateway.relay import ProxyStream, relay
from tasks.gateway.state import Gateway
from tasks.http.upstream import UpstreamError, UpstreamResponse

MAX_MODEL_CHARS = 256


async def proxy_completion(gw: Gateway, scope: Any, receive: Receive, chat: bool) -> Response:
    state = scope["state"]
    rid: str = state["request_id"]
    path: str = scope["path"]
    payload_or_error = await _read_payload(gw, receive)
    if isinstance(payload_or_error, Response):
        return payload_or_error
    payload, body = payload_or_error
    model = payload.get("model") or ""
    stream = payload.get("stream") is True
    # What the metrics say of this completion (see the middleware's finish); the model only once the backend accepts it.
    genai = state["gen_ai"] = {"op": "chat" if chat else "text_completion", "model": OTHER}
    prompt = payload.get("messages") if chat else payload.get("prompt")
    gw.inference.log_request(rid, prompt, model, endpoint=path, stream=stream)
    if not stream:
        return await _unary(gw, receive, path, body, rid, model, chat, state)
    strip_usage = False
    opts = payload.get("stream_options")
    if not (isinstance(opts, dict) and opts.get("include_usage")):  # the log needs the server's token counts
        payload["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        strip_usage = True
        body = orjson.dumps(payload)
    try:
        resp = await gw.upstream().request("POST", path, body, {"content-type": JSON, "x-request-id": rid})
    except UpstreamError as exc:
        return upstream_failure(gw, rid, model, exc)
    if resp.status_code != 200:
        return await _read_whole(gw, resp, rid, model, chat, state)
    genai["model"] = model
    return ProxyStream(relay(gw, resp, rid, model, state["t0"], strip_usage, chat, state),
                       on_disconnect=lambda: gw.inference.log_error(rid, "client disconnected mid-stream",
                                                                    model_name=model, status=499))


async def _read_payload(gw: Gateway, receive: Receive) -> tuple[dict[str, Any], bytes] | Response:
    """(the JSON object, its bytes), or the 400/413 that says what is wrong with the body."""
    try:
        body = await _read_body(receive)
    except ConnectionAbortedError:
        return error_response(400, "the client closed the connection before sending the whole body",
                              "invalid_request_error", "incomplete_body")
    except BodyTooLarge:
        return error_response(413, f"request body is above the gateway's limit of {gw.cfg.max_body_bytes} bytes",
                              "invalid_request_error", "request_too_large")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error_response(400, f"request body is not valid JSON: {exc}", "invalid_request_error", "invalid_json")
    if not isinstance(payload, dict):
        return error_response(400, "request body must be a JSON object", "invalid_request_error", "invalid_json")
    problem = _invalid_field(payload)
    if problem is not None:
        return error_response(400, problem[1], "invalid_request_error", "invalid_value", problem[0])
    return payload, body


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away while sending the body")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _invalid_field(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(field, what to fix) for the first field the gateway reads that has the wrong type;
    the rest of the body is vLLM's to check. A string "false" is not false: OpenAI's API
    rejects it too, and treating it as truthy would stream to a client that asked not to."""
    model = payload.get("model")
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_CHARS):
        return "model", f"'model' must be a non-empty string of at most {MAX_MODEL_CHARS} characters"
    if payload.get("stream") is not None and not isinstance(payload["stream"], bool):
        return "stream", f"'stream' must be true or false, got {type(payload['stream']).__name__}"
    opts = payload.get("stream_options")
    if opts is not None:
        if not isinstance(opts, dict):
            return "stream_options", "'stream_options' must be an object"
        if opts.get("include_usage") is not None and not isinstance(opts["include_usage"], bool):
            return "stream_options.include_usage", "'stream_options.include_usage' must be true or false"
    return None


async def _unary(gw: Gateway, receive: Receive, path: str, body: bytes, rid: str, model: str, chat: bool,
                 state: dict[str, Any]) -> Response:
    """A non-streaming completion (see the module docstring for a client that goes away)."""
    watch = DisconnectWatch(receive)
    try:
        try:
            resp = await gw.upstream().request("POST", path, body, {"content-type": JSON, "x-request-id": rid})
        except UpstreamError as exc:
            return upstream_failure(gw, rid, model, exc)
        return await _read_whole(gw, resp, rid, model, chat, state)
    except asyncio.CancelledError:
        if not watch.absorb():
            raise
        gw.inference.log_error(rid, "client disconnected before the response", model_name=model, status=499)
        return error_response(499, "client closed the request", "client_closed_request")  # nobody reads it
    finally:
        watch.stop()


async def _read_whole(gw: Gateway, resp: UpstreamResponse, rid: str, model: str, chat: bool,
                      state: dict[str, Any]) -> Response:
    """A whole upstream answer passed on: a completion on 200, an error on anything else."""
    try:
        data = await resp.aread()
    except UpstreamError as exc:
        return upstream_failure(gw, rid, model, exc)
    finally:
        await resp.aclose()
    latency_ms = (time.perf_counter() - state["t0"]) * 1000.0
    if resp.status_code == 200:
        state["gen_ai"]["model"] = model
        log_done(gw, rid, model, data_usage(data), latency_ms, None, _completion_text(data, chat), state)
    else:
        gw.inference.log_error(rid, f"upstream HTTP {resp.status_code}: {data[:300].decode('utf-8', 'replace')}",
                               model_name=model, status=resp.status_code)
    return Response(data, status_code=resp.status_code, media_type=resp.headers.get("content-type", JSON))


def data_usage(data: bytes) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj.get("usage") if isinstance(obj, dict) else None


def _completion_text(data: bytes, chat: bool) -> str | None:
    try:
        c0 = orjson.loads(data)["choices"][0]
        return (c0.get("message") or {}).get("content") if chat else c0.get("text")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return None
