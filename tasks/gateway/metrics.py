"""Prometheus metrics of the gateway. The names are a contract with the dashboards and alerts.

Completions follow the OpenTelemetry GenAI semantic conventions (model-server metrics, plus
token usage) in their Prometheus form, with the spec's bucket boundaries:

    gen_ai_server_request_duration_seconds{gen_ai_operation_name,gen_ai_provider_name,
                                           gen_ai_request_model,error_type}          histogram
    gen_ai_server_time_to_first_token_seconds{...operation,provider,model}          histogram (streams)
    gen_ai_server_time_per_output_token_seconds{...operation,provider,model}        histogram (streams)
    gen_ai_client_token_usage{...operation,provider,model,gen_ai_token_type}        histogram (input/output)

HTTP traffic of every route:

    mlops_gateway_requests_total{path,method,status}        counter
    mlops_gateway_request_duration_seconds{path}            histogram

`gen_ai_operation_name` is `chat` or `text_completion`; `gen_ai_request_model` is the served
name the client asked for (the adapter's version name), set only once the backend accepted
the request (otherwise `_OTHER`), so a client cannot mint series; `error_type` is the status
a failed completion ended with ("" on success). Each app has its own registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

PROVIDER = "vllm"
OTHER = "_OTHER"
# OpenTelemetry semantic conventions, docs/gen-ai/gen-ai-metrics.md ("ExplicitBucketBoundaries").
REQUEST_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_GENAI = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.requests = Counter("mlops_gateway_requests", "HTTP requests through the gateway",
                                ["path", "method", "status"], registry=r)
        self.duration = Histogram("mlops_gateway_request_duration_seconds", "Time in the gateway per HTTP request",
                                  ["path"], buckets=_HTTP_BUCKETS, registry=r)
        self.genai_duration = Histogram("gen_ai_server_request_duration_seconds",
                                        "Completion duration to the last byte, as the gateway served it",
                                        [*_GENAI, "error_type"], buckets=REQUEST_DURATION_BUCKETS, registry=r)
        self.ttft = Histogram("gen_ai_server_time_to_first_token_seconds",
                              "Time to the first token of successful streamed completions", _GENAI,
                              buckets=TTFT_BUCKETS, registry=r)
        self.tpot = Histogram("gen_ai_server_time_per_output_token_seconds",
                              "Time per output token after the first, successful streamed completions", _GENAI,
                              buckets=TPOT_BUCKETS, registry=r)
        self.tokens = Histogram("gen_ai_client_token_usage", "Input and output tokens per completion (server usage)",
                                [*_GENAI, "gen_ai_token_type"], buckets=TOKEN_BUCKETS, registry=r)
        self._children: dict[tuple[str, str, int], tuple[object, object]] = {}
        self._genai: dict[tuple[str, str, str], tuple[object, ...]] = {}

    def observe_request(self, path: str, method: str, status: int, duration_s: float) -> None:
        key = (path, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (self.requests.labels(path, method, str(status)), self.duration.labels(path))
        pair[0].inc()  # type: ignore[attr-defined]
        pair[1].observe(duration_s)  # type: ignore[attr-defined]

    def observe_completion(self, operation: str, model: str, duration_s: float, *, error_type: str = "",
                           ttft_s: float | None = None, output_tokens: int | None = None,
                           input_tokens: int | None = None) -> None:
        """One completion as it ended. TTFT/TPOT and tokens only for successes (the spec's
        'successful responses'); TPOT needs at least two output tokens."""
        key = (operation, model or OTHER, error_type)
        series = self._genai.get(key)
        if series is None:  # label lookups cost a lock and a dict each: once per series, not per request
            labels = (operation, PROVIDER, model or OTHER)
            duration_child = self.genai_duration.labels(*labels, error_type)
            series = self._genai[key] = (duration_child, None, None, None, None) if error_type else (
                duration_child, self.ttft.labels(*labels), self.tpot.labels(*labels),
                self.tokens.labels(*labels, "input"), self.tokens.labels(*labels, "output"))
        duration, ttft, tpot, tokens_in, tokens_out = series
        duration.observe(duration_s)  # type: ignore[attr-defined]
        if error_type:
            return
        if ttft_s is not None:
            ttft.observe(ttft_s)  # type: ignore[attr-defined]
            if output_tokens and output_tokens > 1:
                tpot.observe(max(duration_s - ttft_s, 0.0) / (output_tokens - 1))  # type: ignore[attr-defined]
        if isinstance(input_tokens, int):
            tokens_in.observe(input_tokens)  # type: ignore[attr-defined]
        if isinstance(output_tokens, int):
            tokens_out.observe(output_tokens)  # type: ignore[attr-defined]

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
