"""The OpenAI-compatible gateway in front of vLLM: pass-through plus logs and metrics.

    client -> middleware.py [request id, auth, limits, api log, metrics]
           -> proxy.py (completions) -> relay.py (SSE) | whole answer -> tasks/http/upstream.py -> vLLM
           -> this app (/v1/models, /health, /metrics)

Routes: POST /v1/chat/completions and /v1/completions (streaming and not), GET /v1/models,
GET /health (the gateway and its upstream), GET /metrics (Prometheus). Every response carries
`X-Request-ID` (the client's, when it sent a sane one). Per completion the inference log
gets `inference_request` and `inference_response` (latency, TTFT when streaming, token
counts from the server's `usage`, which streaming requests are made to include) or
`inference_error`. Upstream failures become OpenAI-shaped JSON errors: connection refused
-> 502, all upstream connections busy -> 503, timeout -> 504 (see tasks/http/upstream.py). A
client that goes away (mid-stream, or while a non-streaming answer is generated) closes the
upstream request at once, so vLLM stops generating for nobody.

Speed (target: <= 1 ms added p50): the two completion routes are served straight from the
observing ASGI layer, not through Starlette's routing and middleware stack; the rest
(/v1/models, /health, /metrics) are ordinary FastAPI routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from configs.serving import GatewayConfig
from logging_lib import APILogger, InferenceLogger
from tasks.gateway.errors import JSON
from tasks.gateway.metrics import GatewayMetrics
from tasks.gateway.middleware import ObserveMiddleware
from tasks.gateway.outcome import upstream_failure
from tasks.gateway.state import Gateway
from tasks.http.upstream import UpstreamError, UpstreamPool


def create_app(cfg: GatewayConfig, *, log_dir: str | None = None, api_keys: tuple[str, ...] = (),
               metrics: GatewayMetrics | None = None, upstream: Callable[..., Any] = UpstreamPool) -> Any:
    """The ASGI app (FastAPI wrapped in the observing middleware). Keys come from the caller
    (the CLI reads them from the environment through GatewaySettings)."""
    api = APILogger(cfg.name, log_dir)
    inference = InferenceLogger(cfg.name, log_dir, log_prompts=cfg.log_prompts)
    gw = Gateway(cfg, api, inference, metrics or GatewayMetrics(), api_keys, upstream)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.open()
        try:
            yield
        finally:
            await gw.close()

    app = FastAPI(title="mlops gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gw
    _add_routes(app, gw)
    wrapped = ObserveMiddleware(app, gw)
    wrapped.gateway = gw  # type: ignore[attr-defined]
    return wrapped


def _add_routes(app: FastAPI, gw: Gateway) -> None:
    """The routes that are not completions: ordinary FastAPI, off the hot path."""
    cfg = gw.cfg

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        rid = request.scope["state"]["request_id"]
        try:
            resp = await gw.upstream().request("GET", "/v1/models", headers={"x-request-id": rid})
            data = await resp.aread()
        except UpstreamError as exc:
            return upstream_failure(gw, rid, None, exc)
        return Response(data, status_code=resp.status_code, media_type=resp.headers.get("content-type", JSON))

    @app.get("/health")
    async def health() -> Response:
        try:
            resp = await gw.upstream().request("GET", "/health", timeout_s=min(5.0, cfg.upstream_timeout_s))
            await resp.aread()
            ok = resp.status_code == 200
        except UpstreamError:
            ok = False
        body = {"status": "ok" if ok else "upstream unavailable", "backend_url": cfg.backend_url}
        return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=JSON)

    @app.get("/metrics")
    async def prometheus() -> Response:
        data, ctype = gw.metrics.render()
        return Response(data, media_type=ctype)
