"""How a completion ended, written once: the inference log line and what the metrics get.

`state` is the request's ASGI scope state: `gen_ai` (what the metrics say of the completion)
and `outcome_status` (the status a stream really ended with, after its 200 left) are read by
the observing middleware when the response is over.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from tasks.gateway.errors import error_response
from tasks.gateway.state import Gateway
from tasks.http.upstream import UpstreamError


def log_done(gw: Gateway, rid: str, model: str, usage: dict[str, Any] | None, latency_ms: float,
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


def stream_failed(gw: Gateway, rid: str, model: str, state: dict[str, Any], status: int, message: str) -> None:
    """A stream whose 200 already left but that ended badly: logged, and counted with `status`."""
    state["outcome_status"] = status
    gw.inference.log_error(rid, message, model_name=model, status=status)


def upstream_failure(gw: Gateway, rid: str, model: str | None, exc: UpstreamError) -> Response:
    """The OpenAI-shaped answer to an upstream failure (502/503/504); a completion's is logged."""
    if model is not None:
        gw.inference.log_error(rid, str(exc), model_name=model, status=exc.status)
    return error_response(exc.status, str(exc), exc.kind)
