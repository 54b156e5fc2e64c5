"""What every part of the gateway shares: config, the upstream pool, loggers, metrics, keys."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Any

from configs.serving import GatewayConfig
from logging_lib import APILogger, InferenceLogger
from tasks.gateway.errors import bounded
from tasks.gateway.metrics import GatewayMetrics
from tasks.http.upstream import UpstreamPool


class Gateway:
    """State shared by the routes: config, upstream pool, loggers, metrics."""

    def __init__(self, cfg: GatewayConfig, api: APILogger, inference: InferenceLogger, metrics: GatewayMetrics,
                 api_keys: tuple[str, ...] = (), upstream: Callable[..., Any] = UpstreamPool) -> None:
        self.cfg, self.api, self.inference, self.metrics = cfg, api, inference, metrics
        self.api_keys = tuple(k.encode() for k in api_keys)
        self._make_pool = upstream  # UpstreamPool's signature; bench/gateway_overhead.py measures another
        self.pool: UpstreamPool | None = None

    def open(self) -> None:
        self.pool = self._make_pool(self.cfg.backend_url, connect_timeout_s=self.cfg.connect_timeout_s,
                                   read_timeout_s=self.cfg.upstream_timeout_s,
                                   max_connections=self.cfg.max_connections)

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
