"""The OpenAI-compatible gateway in front of vLLM: pass-through plus logs and metrics.

    client -> [request id, auth, body limit, api log, metrics] -> route -> vLLM

Routes: POST /v1/chat/completions and /v1/completions (streaming and not), GET /v1/models,
GET /health (the gateway and its upstream), GET /metrics (Prometheus). Every response carries
`X-Request-ID` (the client's, when it sent a sane one). Per completion the inference log
gets `inference_request` and `inference_response` (latency, TTFT when streaming, token
counts from the server's `usage`, which streaming requests are made to include) or
`inference_error`. Upstream failures become OpenAI-shaped JSON errors: connection refused
-> 502, all upstream connections busy -> 503, timeout -> 504 (see upstream.py). A client
that goes away (mid-stream, or while a non-streaming answer is generated) closes the upstream
request at once, so vLLM stops generating for nobody.

Speed (target: <= 1 ms added p50): the two completion routes are served straight from the
observing ASGI layer, not through Starlette's routing and middleware stack; the rest
(/v1/models, /health, /metrics) are ordinary FastAPI routes.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from configs.serving import GatewayConfig
from logging_lib import APILogger, InferenceLogger
from tasks.gateway.metrics import OTHER, GatewayMetrics
from tasks.gateway.upstream import UpstreamError, UpstreamPool, UpstreamResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_RID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_METHODS = {"/v1/chat/completions": "POST", "/v1/completions": "POST", "/v1/models": "GET", "/health": "GET",
            "/metrics": "GET"}  # route -> the one method it answers
_JSON = "application/json"
_COMPLETIONS = {"/v1/chat/completions": True, "/v1/completions": False}  # path -> chat?
MAX_LOGGED_CHARS = 512  # of a client-chosen string (path) in a log line: what redaction ever sees of it
MAX_MODEL_CHARS = 256


def bounded(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """`text` cut to `limit` chars with a marker that says how much was dropped."""
    return text if len(text) <= limit else f"{text[:limit]}...[{len(text) - limit} more chars]"


def error_body(status: int, message: str, type_: str, code: str | int | None = None, param: str | None = None) -> bytes:
    """OpenAI's error shape."""
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param,
                                   "code": code if code is not None else status}})


def error_response(status: int, message: str, type_: str, code: str | int | None = None,
                   param: str | None = None) -> Response:
    return Response(error_body(status, message, type_, code, param), status_code=status, media_type=_JSON)


class BodyTooLarge(Exception):
    pass


class Gateway:
    """State shared by the routes: config, upstream pool, loggers, metrics."""

    def __init__(self, cfg: GatewayConfig, api: APILogger, inference: InferenceLogger, metrics: GatewayMetrics,
                 api_keys: tuple[str, ...] = ()) -> None:
        self.cfg, self.api, self.inference, self.metrics = cfg, api, inference, metrics
        self.api_keys = tuple(k.encode() for k in api_keys)
        self.pool: UpstreamPool | None = None

    def open(self) -> None:
        self.pool = UpstreamPool(self.cfg.backend_url, connect_timeout_s=self.cfg.connect_timeout_s,
                                 read_timeout_s=self.cfg.upstream_timeout_s, max_connections=self.cfg.max_connections)

    def upstream(self) -> UpstreamPool:
        if self.pool is None:
            raise RuntimeError("the gateway's upstream pool is not open: run the app with its lifespan")
        return self.pool

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None

    def refused_head(self, reason: str, url_prefix: bytes) -> None:
        """A request the HTTP layer refused (431) before the app saw it: logged and counted."""
        rid = f"req_{uuid.uuid4().hex}"
        self.metrics.observe_request("other", "unknown", 431, 0.0)
        self.api.log_response(rid, 431, 0.0, path=bounded(url_prefix.decode("latin-1")), error=reason)

    def authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if not self.api_keys:
            return True
        for k, v in headers:
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                given = v[7:].strip()
                return any(hmac.compare_digest(given, key) for key in self.api_keys)
        return False


class ObserveMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: it would buffer streams and cost time per request)."""

    def __init__(self, app: Callable[..., Awaitable[None]], gw: Gateway) -> None:
        self.app, self.gw = app, gw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        gw = self.gw
        headers = scope["headers"]
        rid = None
        length = None
        for k, v in headers:
            if k == b"x-request-id":
                cand = v.decode("latin-1")
                rid = cand if _RID_OK.match(cand) else None
            elif k == b"content-length":
                length = int(v) if v.isdigit() else None
        rid = rid or f"req_{uuid.uuid4().hex}"
        method = scope["method"]
        allowed = _METHODS.get(scope["path"])
        route = scope["path"] if allowed else "other"
        # Auth is decided before anything else touches the request; what is logged of the path
        # is bounded, so no client-chosen string costs the logger (redaction) more than 512 chars.
        denied = scope["path"].startswith("/v1/") and not gw.authorized(headers)
        path = bounded(scope["path"])
        scope.setdefault("state", {}).update(request_id=rid, t0=t0)
        log_api = route != "/metrics"
        if log_api:
            gw.api.log_request(rid, method, path, request_bytes=length)
        state = {"status": 500, "bytes": 0, "in": 0, "logged": False}
        rid_header = (b"x-request-id", rid.encode())

        def finish() -> None:
            state["logged"] = True
            duration = time.perf_counter() - t0
            # A stream whose 200 already left but that ended badly (client gone: 499, upstream
            # died: 502/504) is logged and counted with the status of how it ended.
            status = scope["state"].get("outcome_status") or state["status"]
            gw.metrics.observe_request(route, method, status, duration)
            genai = scope["state"].get("gen_ai")
            if genai is not None:
                gw.metrics.observe_completion(genai["op"], genai["model"], duration,
                                              error_type=str(status) if status >= 400 else "",
                                              ttft_s=genai.get("ttft_s"), output_tokens=genai.get("out"),
                                              input_tokens=genai.get("in"))
            if log_api:
                gw.api.log_response(rid, status, round(duration * 1000.0, 3), method=method, path=path,
                                    request_bytes=state["in"], response_bytes=state["bytes"])

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    # Written before the client can see the end of the response, so whoever holds a
                    # complete response also finds its api_response line (no read-after-write race).
                    finish()
            await send(message)

        limit = gw.cfg.max_body_bytes

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["in"] += len(message.get("body", b""))
                if state["in"] > limit:
                    raise BodyTooLarge()
            return message

        try:
            if denied:
                await _send_plain(send_wrapper, 401, error_body(
                    401, "missing or invalid API key; send 'Authorization: Bearer <key>'", "invalid_request_error",
                    "invalid_api_key"))
            elif allowed is None:
                await _send_plain(send_wrapper, 404, error_body(
                    404, f"no route {bounded(path, 100)}; the gateway serves {', '.join(sorted(_METHODS))}",
                    "invalid_request_error", "not_found"))
            elif method != allowed:
                await _send_plain(send_wrapper, 405, error_body(
                    405, f"{bounded(method, 20)} is not allowed on {route}; use {allowed}", "invalid_request_error",
                    "method_not_allowed"), [(b"allow", allowed.encode())])
            elif length is not None and length > limit:
                await _send_plain(send_wrapper, 413, error_body(
                    413, f"request body of {length} bytes is above the gateway's limit of {limit} bytes",
                    "invalid_request_error", "request_too_large"))
            elif route in _COMPLETIONS:
                # The hot path skips Starlette's routing and middleware layers (~0.2 ms per request).
                response = await proxy_completion(gw, scope, receive_wrapper, _COMPLETIONS[route])
                await response(scope, receive_wrapper, send_wrapper)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            if not state["logged"]:  # failed or cut off before the last body message
                finish()


async def _send_plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode()),
                            *(headers or ())]})
    await send({"type": "http.response.body", "body": body})


class DisconnectWatch:
    """Cancels the task that creates it when the client disconnects, so a request nobody
    waits for stops (and closes upstream). Plain asyncio rather than an anyio task group:
    cheaper per request, same behaviour."""

    __slots__ = ("_me", "_task", "armed", "fired")

    def __init__(self, receive: Receive) -> None:
        self._me = asyncio.current_task()
        self.armed = True   # set False once a disconnect no longer matters
        self.fired = False
        self._task = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self.armed and self._me is not None:
            self.fired = True
            self._me.cancel()

    def absorb(self) -> bool:
        """In `except CancelledError`: True, with the cancellation undone, if it came from here."""
        if not self.fired or self._me is None:
            return False
        self._me.uncancel()
        return True

    def stop(self) -> None:
        self._task.cancel()


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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


def _split_events(buf: bytes) -> tuple[list[bytes], bytes]:
    if b"\r\n" in buf:
        buf = buf.replace(b"\r\n", b"\n")
    *events, rest = buf.split(b"\n\n")
    return events, rest


def _event_json(event: bytes) -> dict[str, Any] | None:
    """The JSON object of an SSE event's data line; None for [DONE], comments, non-JSON."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]" or not data:
                return None
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
            return obj if isinstance(obj, dict) else None
    return None


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away while sending the body")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def proxy_completion(gw: Gateway, scope: Scope, receive: Receive, chat: bool) -> Response:
    state = scope["state"]
    rid: str = state["request_id"]
    t0: float = state["t0"]
    path: str = scope["path"]
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
    model = payload.get("model") or ""
    stream = payload.get("stream") is True
    # What the metrics say of this completion (see finish()); the model only once the backend accepts it.
    genai = state["gen_ai"] = {"op": "chat" if chat else "text_completion", "model": OTHER}
    prompt = payload.get("messages") if chat else payload.get("prompt")
    gw.inference.log_request(rid, prompt, model, endpoint=path, stream=stream)
    strip_usage = False
    if stream:
        opts = payload.get("stream_options")
        if not (isinstance(opts, dict) and opts.get("include_usage")):
            payload["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
            strip_usage = True
            body = orjson.dumps(payload)
    if not stream:
        return await _unary(gw, receive, path, body, rid, model, t0, chat, state)
    try:
        resp = await gw.upstream().request("POST", path, body, {"content-type": _JSON, "x-request-id": rid})
    except UpstreamError as exc:
        return _upstream_failure(gw, rid, model, exc)
    if resp.status_code != 200:
        return await _read_whole(gw, resp, rid, model, t0, chat, state)
    genai["model"] = model
    return ProxyStream(_relay(gw, resp, rid, model, t0, strip_usage, chat, state),
                       on_disconnect=lambda: gw.inference.log_error(rid, "client disconnected mid-stream",
                                                                    model_name=model, status=499))


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


async def _unary(gw: Gateway, receive: Receive, path: str, body: bytes, rid: str, model: str, t0: float,
                 chat: bool, state: dict[str, Any]) -> Response:
    """A non-streaming completion. A client that goes away while vLLM generates closes the
    upstream request too (vLLM aborts it), as a mid-stream disconnect does."""
    watch = DisconnectWatch(receive)
    try:
        try:
            resp = await gw.upstream().request("POST", path, body, {"content-type": _JSON, "x-request-id": rid})
        except UpstreamError as exc:
            return _upstream_failure(gw, rid, model, exc)
        return await _read_whole(gw, resp, rid, model, t0, chat, state)
    except asyncio.CancelledError:
        if not watch.absorb():
            raise
        gw.inference.log_error(rid, "client disconnected before the response", model_name=model, status=499)
        return error_response(499, "client closed the request", "client_closed_request")  # nobody reads it
    finally:
        watch.stop()


async def _read_whole(gw: Gateway, resp: UpstreamResponse, rid: str, model: str, t0: float, chat: bool,
                      state: dict[str, Any]) -> Response:
    try:
        data = await resp.aread()
    except UpstreamError as exc:
        return _upstream_failure(gw, rid, model, exc)
    finally:
        await resp.aclose()
    latency_ms = (time.perf_counter() - t0) * 1000.0
    if resp.status_code == 200:
        state["gen_ai"]["model"] = model
        _log_done(gw, rid, model, data_usage(data), latency_ms, None, _completion_text(data, chat), state)
    else:
        gw.inference.log_error(rid, f"upstream HTTP {resp.status_code}: {data[:300].decode('utf-8', 'replace')}",
                               model_name=model, status=resp.status_code)
    return Response(data, status_code=resp.status_code, media_type=resp.headers.get("content-type", _JSON))


async def _relay(gw: Gateway, resp: UpstreamResponse, rid: str, model: str, t0: float, strip_usage: bool,
                 chat: bool, outcome: dict[str, Any]) -> AsyncIterator[bytes]:
    """Upstream SSE events to the client as they come. A stream counts as complete only when
    the server said `[DONE]`: one that stops before it (the backend died, or closed the
    connection cleanly mid-generation) or that carries an error event ends as an
    `inference_error`, with a final OpenAI-shaped error event for the client, and its
    api_response gets that error's status (`outcome`), not the 200 already sent."""
    first: float | None = None
    usage: dict[str, Any] | None = None
    text: list[str] | None = [] if gw.inference.log_prompts else None
    token_chunks = 0
    upstream_error: dict[str, Any] | None = None
    buf = b""
    done = False
    try:
        async for piece in resp.aiter_raw():
            buf += piece
            if b"\n\n" not in buf and b"\r\n\r\n" not in buf:
                continue
            events, buf = _split_events(buf)
            out = []
            for event in events:
                msg = _event_json(event)
                if msg is not None:
                    choices = msg.get("choices")
                    if choices and isinstance(choices, list):
                        token_chunks += 1
                        if first is None:
                            first = time.perf_counter()
                        if text is not None:
                            part = _chunk_text(choices[0], chat)
                            if part:
                                text.append(part)
                    if msg.get("usage"):
                        usage = msg["usage"] if isinstance(msg["usage"], dict) else None
                        if strip_usage and not choices:
                            continue  # the client did not ask for the usage chunk
                    if isinstance(msg.get("error"), dict) and upstream_error is None:
                        upstream_error = msg["error"]
                elif _is_done(event):
                    done = True
                out.append(event + b"\n\n")
            if out:
                yield b"".join(out)
        if buf.strip():
            done = done or _is_done(buf)
            yield buf
    except UpstreamError as exc:
        _stream_failed(gw, rid, model, outcome, exc.status, f"upstream failed mid-stream: {exc}")
        yield b"data: " + error_body(exc.status, f"upstream failed mid-stream: {exc}", exc.kind) + b"\n\n"
        return
    finally:
        await resp.aclose()
    if upstream_error is not None:  # the server reported the failure in the stream (and sent it on)
        code = upstream_error.get("code")
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        _stream_failed(gw, rid, model, outcome, status,
                       f"upstream error mid-stream: {str(upstream_error.get('message'))[:300]}")
    elif not done:
        message = f"{gw.cfg.backend_url} closed the stream before [DONE]"
        _stream_failed(gw, rid, model, outcome, 502, f"upstream failed mid-stream: {message}")
        yield b"data: " + error_body(502, f"upstream failed mid-stream: {message}", "bad_gateway",
                                     "upstream_closed") + b"\n\n"
    else:
        latency_ms = (time.perf_counter() - t0) * 1000.0
        ttft_ms = (first - t0) * 1000.0 if first is not None else None
        _log_done(gw, rid, model, usage, latency_ms, ttft_ms, "".join(text) if text is not None else None, outcome,
                  counted_tokens=token_chunks)


def _stream_failed(gw: Gateway, rid: str, model: str, outcome: dict[str, Any], status: int, message: str) -> None:
    outcome["outcome_status"] = status
    gw.inference.log_error(rid, message, model_name=model, status=status)


def _is_done(event: bytes) -> bool:
    return any(line.startswith(b"data:") and line[5:].strip() == b"[DONE]" for line in event.split(b"\n"))


def _chunk_text(choice: Any, chat: bool) -> str | None:
    if not isinstance(choice, dict):
        return None
    part = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
    return part if isinstance(part, str) else None


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


def _log_done(gw: Gateway, rid: str, model: str, usage: dict[str, Any] | None, latency_ms: float,
              ttft_ms: float | None, completion: str | None, state: dict[str, Any], counted_tokens: int = 0) -> None:
    """A completed completion. Without the server's usage the count is the gateway's own (token
    chunks of a stream; 0 when unknown) and the line says `usage_missing`, so it stays valid."""
    usage = usage if isinstance(usage, dict) else {}
    tokens = usage.get("completion_tokens")
    extra: dict[str, Any] = {}
    if not isinstance(tokens, int):
        tokens = counted_tokens
        extra["usage_missing"] = True
    if gw.inference.log_prompts and completion is not None:
        extra["completion"] = completion
    gw.inference.log_response(rid, latency_ms=round(latency_ms, 3), tokens_generated=tokens, model_name=model,
                              ttft_ms=round(ttft_ms, 3) if ttft_ms is not None else None,
                              prompt_tokens=usage.get("prompt_tokens"), **extra)
    prompt_tokens = usage.get("prompt_tokens")
    state["gen_ai"].update(ttft_s=ttft_ms / 1000.0 if ttft_ms is not None else None,
                           out=tokens if "usage_missing" not in extra else None,
                           **{"in": prompt_tokens if isinstance(prompt_tokens, int) else None})


def _upstream_failure(gw: Gateway, rid: str, model: str | None, exc: UpstreamError) -> Response:
    if model is not None:
        gw.inference.log_error(rid, str(exc), model_name=model, status=exc.status)
    return error_response(exc.status, str(exc), exc.kind)


def create_app(cfg: GatewayConfig, *, log_dir: str | None = None, api_keys: tuple[str, ...] = (),
               metrics: GatewayMetrics | None = None) -> Any:
    """The ASGI app (FastAPI wrapped in the observing middleware). Keys come from the caller
    (the CLI reads them from the environment through GatewaySettings)."""
    api = APILogger(cfg.name, log_dir)
    inference = InferenceLogger(cfg.name, log_dir, log_prompts=cfg.log_prompts)
    gw = Gateway(cfg, api, inference, metrics or GatewayMetrics(), api_keys)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.open()
        try:
            yield
        finally:
            await gw.close()

    app = FastAPI(title="mlops gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gw

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        try:
            resp = await gw.upstream().request("GET", "/v1/models",
                                               headers={"x-request-id": request.scope["state"]["request_id"]})
            data = await resp.aread()
        except UpstreamError as exc:
            return _upstream_failure(gw, request.scope["state"]["request_id"], None, exc)
        return Response(data, status_code=resp.status_code, media_type=resp.headers.get("content-type", _JSON))

    @app.get("/health")
    async def health() -> Response:
        try:
            resp = await gw.upstream().request("GET", "/health", timeout_s=min(5.0, cfg.upstream_timeout_s))
            await resp.aread()
            ok = resp.status_code == 200
        except UpstreamError:
            ok = False
        body = {"status": "ok" if ok else "upstream unavailable", "backend_url": cfg.backend_url}
        return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=_JSON)

    @app.get("/metrics")
    async def prometheus() -> Response:
        data, ctype = gw.metrics.render()
        return Response(data, media_type=ctype)

    wrapped = ObserveMiddleware(app, gw)
    wrapped.gateway = gw  # type: ignore[attr-defined]
    return wrapped
