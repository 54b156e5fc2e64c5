"""The observing ASGI layer every request passes: request id, auth, limits, api log, metrics.

Pure ASGI (no BaseHTTPMiddleware: it would buffer streams and cost time per request). The two
completion routes are served from here straight into proxy.py, skipping Starlette's routing
and middleware layers (~0.2 ms per request); the rest go on to the FastAPI app.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tasks.gateway.errors import BodyTooLarge, bounded, error_body, send_plain
from tasks.gateway.proxy import proxy_completion
from tasks.gateway.state import Gateway

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_RID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
METHODS = {"/v1/chat/completions": "POST", "/v1/completions": "POST", "/v1/models": "GET", "/health": "GET",
           "/metrics": "GET"}  # route -> the one method it answers
_COMPLETIONS = {"/v1/chat/completions": True, "/v1/completions": False}  # path -> chat?


class _Exchange:
    """One request/response pair as the middleware sees it: counts bytes both ways, enforces
    the body limit, adds `X-Request-ID`, and logs and counts the response exactly once."""

    __slots__ = ("gw", "length", "log_api", "logged", "method", "path", "rid", "rid_header", "route", "scope",
                 "status", "t0", "bytes_in", "bytes_out", "_send", "_receive")

    def __init__(self, gw: Gateway, scope: Scope, receive: Receive, send: Send, t0: float) -> None:
        self.gw, self.scope, self._receive, self._send, self.t0 = gw, scope, receive, send, t0
        rid = length = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                cand = v.decode("latin-1")
                rid = cand if _RID_OK.match(cand) else None
            elif k == b"content-length":
                length = int(v) if v.isdigit() else None
        self.rid: str = rid or f"req_{uuid.uuid4().hex}"
        self.length: int | None = length
        self.method: str = scope["method"]
        self.route: str = scope["path"] if scope["path"] in METHODS else "other"
        # What is logged of the path is bounded, so no client-chosen string costs the logger
        # (redaction) more than 512 chars.
        self.path = bounded(scope["path"])
        self.log_api = self.route != "/metrics"
        self.status, self.bytes_in, self.bytes_out, self.logged = 500, 0, 0, False
        self.rid_header = (b"x-request-id", self.rid.encode())

    def finish(self) -> None:
        self.logged = True
        gw, state = self.gw, self.scope["state"]
        duration = time.perf_counter() - self.t0
        # A stream whose 200 already left but that ended badly (client gone: 499, upstream
        # died: 502/504) is logged and counted with the status of how it ended.
        status = state.get("outcome_status") or self.status
        gw.metrics.observe_request(self.route, self.method, status, duration)
        genai = state.get("gen_ai")
        if genai is not None:
            gw.metrics.observe_completion(genai["op"], genai["model"], duration,
                                          error_type=str(status) if status >= 400 else "",
                                          ttft_s=genai.get("ttft_s"), output_tokens=genai.get("out"),
                                          input_tokens=genai.get("in"))
        if self.log_api:
            gw.api.log_response(self.rid, status, round(duration * 1000.0, 3), method=self.method, path=self.path,
                                request_bytes=self.bytes_in, response_bytes=self.bytes_out)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.rid_header]
        elif message["type"] == "http.response.body":
            self.bytes_out += len(message.get("body", b""))
            if not message.get("more_body", False):
                # Written before the client can see the end of the response, so whoever holds a
                # complete response also finds its api_response line (no read-after-write race).
                self.finish()
        await self._send(message)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.bytes_in += len(message.get("body", b""))
            if self.bytes_in > self.gw.cfg.max_body_bytes:
                raise BodyTooLarge()
        return message


class ObserveMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(self, app: Callable[..., Awaitable[None]], gw: Gateway) -> None:
        self.app, self.gw = app, gw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        gw = self.gw
        ex = _Exchange(gw, scope, receive, send, t0)
        # Auth is decided before anything else touches the request.
        denied = scope["path"].startswith("/v1/") and not gw.authorized(scope["headers"])
        scope.setdefault("state", {}).update(request_id=ex.rid, t0=t0)
        if ex.log_api:
            gw.api.log_request(ex.rid, ex.method, ex.path, request_bytes=ex.length)
        try:
            refusal = _refusal(ex, denied, gw.cfg.max_body_bytes)
            if refusal is not None:
                await send_plain(ex.send, *refusal)
            elif ex.route in _COMPLETIONS:
                response = await proxy_completion(gw, scope, ex.receive, _COMPLETIONS[ex.route])
                await response(scope, ex.receive, ex.send)
            else:
                await self.app(scope, ex.receive, ex.send)
        finally:
            if not ex.logged:  # failed or cut off before the last body message
                ex.finish()


def _refusal(ex: _Exchange, denied: bool, limit: int) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """(status, body, extra headers) when the request is refused before any route sees it."""
    if denied:
        return 401, error_body(401, "missing or invalid API key; send 'Authorization: Bearer <key>'",
                               "invalid_request_error", "invalid_api_key"), []
    allowed = METHODS.get(ex.scope["path"])
    if allowed is None:
        routes = ", ".join(sorted(METHODS))
        return 404, error_body(404, f"no route {bounded(ex.path, 100)}; the gateway serves {routes}",
                               "invalid_request_error", "not_found"), []
    if ex.method != allowed:
        return 405, error_body(405, f"{bounded(ex.method, 20)} is not allowed on {ex.route}; use {allowed}",
                               "invalid_request_error", "method_not_allowed"), [(b"allow", allowed.encode())]
    if ex.length is not None and ex.length > limit:
        return 413, error_body(413, f"request body of {ex.length} bytes is above the gateway's limit of {limit} bytes",
                               "invalid_request_error", "request_too_large"), []
    return None
