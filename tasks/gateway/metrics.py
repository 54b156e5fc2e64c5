"""Prometheus metrics of the gateway. The names are a contract with the dashboards:

    mlops_gateway_requests_total{path,method,status}        counter
    mlops_gateway_request_duration_seconds{path}            histogram
    mlops_gateway_ttft_seconds{model}                       histogram
    mlops_gateway_completion_tokens_total{model}            counter

Each app gets its own registry, so several gateways (or tests) in one process do not clash.
`path` is the route (unknown paths become "other") and `model` only ever a name the backend
accepted, which keeps label cardinality low.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("mlops_gateway_requests", "HTTP requests through the gateway",
                                ["path", "method", "status"], registry=self.registry)
        self.duration = Histogram("mlops_gateway_request_duration_seconds", "Time in the gateway per request",
                                  ["path"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("mlops_gateway_ttft_seconds", "Time to first token of streamed completions",
                              ["model"], buckets=_TTFT_BUCKETS, registry=self.registry)
        self.tokens = Counter("mlops_gateway_completion_tokens", "Completion tokens generated (server usage)",
                              ["model"], registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[object, object]] = {}

    def observe_request(self, path: str, method: str, status: int, duration_s: float) -> None:
        key = (path, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (self.requests.labels(path, method, str(status)), self.duration.labels(path))
        pair[0].inc()  # type: ignore[attr-defined]
        pair[1].observe(duration_s)  # type: ignore[attr-defined]

    def observe_completion(self, model: str, ttft_s: float | None, tokens: int | None) -> None:
        if ttft_s is not None:
            self.ttft.labels(model).observe(ttft_s)
        if tokens:
            self.tokens.labels(model).inc(tokens)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
