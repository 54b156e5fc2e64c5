"""The four typed loggers. Method names and arguments are those users of the original
system already call; each writes one fixed event (see schemas.py for every field)."""

from __future__ import annotations

import hashlib
import traceback
from typing import Any

from logging_lib.base import TypedLogger, _level_value
from logging_lib.redaction import redact_text
from logging_lib.sanitize import format_exception_message


class TrainingLogger(TypedLogger):
    """`logs/training/`: epoch_start, training_step, validation, epoch_end, training_error."""

    log_type = "training"

    def log_epoch_start(self, epoch: int, total_epochs: int, **extra: Any) -> None:
        self._emit("INFO", "epoch_start", {"epoch": epoch, "total_epochs": total_epochs}, extra)

    def log_step(
        self,
        epoch: float,
        step: int,
        loss: float,
        learning_rate: float,
        gpu_memory_used: float | None = None,
        gpu_memory_total: float | None = None,
        **extra: Any,
    ) -> None:
        """One optimizer step; GPU memory in MiB when a GPU is used."""
        self._emit("INFO", "training_step", {
            "epoch": epoch, "step": step, "loss": loss, "learning_rate": learning_rate,
            "gpu_memory_used": gpu_memory_used, "gpu_memory_total": gpu_memory_total,
        }, extra)

    def log_validation(self, epoch: float, val_loss: float, val_accuracy: float | None = None, **metrics: Any) -> None:
        self._emit("INFO", "validation", {"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy}, metrics)

    def log_epoch_end(self, epoch: float, avg_loss: float, time_elapsed: float, **extra: Any) -> None:
        """`time_elapsed` in seconds; written as `time_elapsed_s`."""
        self._emit("INFO", "epoch_end", {"epoch": epoch, "avg_loss": avg_loss, "time_elapsed_s": time_elapsed}, extra)

    def log_error(self, error: BaseException | str, **context: Any) -> None:
        self._emit("ERROR", "training_error", {}, {**_error_fields(error), **context})


class InferenceLogger(TypedLogger):
    """`logs/inference/`: inference_request, inference_response, inference_error (the server
    side: the gateway, a model server), and benchmark_request, benchmark_response,
    benchmark_error (a load generator's view of the same requests).

    The client has its own events so that a benchmark through the gateway is one
    `inference_response` per request on the dashboards, not two; its lines carry the same
    `request_id` (sent as X-Request-ID), so the two views still join.

    Prompts and completions are not written unless `log_prompts=True`: by default a
    request carries `prompt_chars` and a short `prompt_sha256` so identical prompts can
    still be grouped.
    """

    log_type = "inference"

    def __init__(self, name: str, log_dir: str | None = None, *, log_prompts: bool = False, **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        self.log_prompts = log_prompts

    def log_request(self, request_id: str, prompt: Any, model_name: str, **extra: Any) -> None:
        self._request("inference_request", request_id, prompt, model_name, extra)

    def log_response(
        self,
        request_id: str,
        latency_ms: float,
        tokens_generated: int,
        model_name: str,
        ttft_ms: float | None = None,
        prompt_tokens: int | None = None,
        **extra: Any,
    ) -> None:
        """`tokens_per_second` = tokens_generated / end-to-end latency."""
        self._response("inference_response", request_id, latency_ms, tokens_generated, model_name, ttft_ms,
                       prompt_tokens, extra)

    def log_error(self, request_id: str, error: BaseException | str, model_name: str | None = None, **extra: Any) -> None:
        self._error("inference_error", request_id, error, model_name, extra)

    # -- the load generator's side (mlops bench) -------------------------------------
    def log_benchmark_request(self, request_id: str, prompt: Any, model_name: str, **extra: Any) -> None:
        self._request("benchmark_request", request_id, prompt, model_name, extra)

    def log_benchmark_response(
        self,
        request_id: str,
        latency_ms: float,
        tokens_generated: int,
        model_name: str,
        ttft_ms: float | None = None,
        prompt_tokens: int | None = None,
        **extra: Any,
    ) -> None:
        """As the client measured it: from the planned send time to the last token."""
        self._response("benchmark_response", request_id, latency_ms, tokens_generated, model_name, ttft_ms,
                       prompt_tokens, extra)

    def log_benchmark_error(self, request_id: str, error: BaseException | str, model_name: str | None = None,
                            **extra: Any) -> None:
        self._error("benchmark_error", request_id, error, model_name, extra)

    # -- shared by both sides --------------------------------------------------------
    def _request(self, event: str, request_id: str, prompt: Any, model_name: str, extra: dict[str, Any]) -> None:
        fields = {"request_id": request_id, "model_name": model_name, **self._text_fields("prompt", prompt), **extra}
        self._emit("INFO", event, {}, fields)

    def _response(self, event: str, request_id: str, latency_ms: float, tokens_generated: int, model_name: str,
                  ttft_ms: float | None, prompt_tokens: int | None, extra: dict[str, Any]) -> None:
        tps = None
        try:
            if latency_ms and latency_ms > 0 and tokens_generated is not None:
                tps = round(float(tokens_generated) * 1000.0 / float(latency_ms), 3)
        except (TypeError, ValueError):
            tps = None
        if "completion" in extra:
            extra = {**extra}
            extra.update(self._text_fields("completion", extra.pop("completion")))
        self._emit("INFO", event, {
            "latency_ms": latency_ms, "tokens_generated": tokens_generated, "tokens_per_second": tps,
            "ttft_ms": ttft_ms, "prompt_tokens": prompt_tokens,
        }, {"request_id": request_id, "model_name": model_name, **extra})

    def _error(self, event: str, request_id: str, error: BaseException | str, model_name: str | None,
               extra: dict[str, Any]) -> None:
        self._emit("ERROR", event, {}, {"request_id": request_id, "model_name": model_name,
                                        **_error_fields(error, with_traceback=False), **extra})

    def _text_fields(self, kind: str, value: Any) -> dict[str, Any]:
        text = _as_text(value)
        fields: dict[str, Any] = {
            f"{kind}_chars": len(text),
            f"{kind}_sha256": hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16],
        }
        if self.log_prompts:
            fields[kind] = value
        return fields


class APILogger(TypedLogger):
    """`logs/api/`: api_request, api_response (level WARNING for 4xx, ERROR for 5xx)."""

    log_type = "api"

    def log_request(self, request_id: str, method: str, path: str, **extra: Any) -> None:
        self._emit("INFO", "api_request", {}, {"request_id": request_id, "method": method, "path": path, **extra})

    def log_response(self, request_id: str, status_code: int, duration_ms: float, **extra: Any) -> None:
        try:
            code = int(status_code)
        except (TypeError, ValueError):
            code = 0
        level = "ERROR" if code >= 500 else "WARNING" if code >= 400 else "INFO"
        self._emit(level, "api_response", {"status_code": status_code, "duration_ms": duration_ms},
                   {"request_id": request_id, **extra})


class SystemLogger(TypedLogger):
    """`logs/system/`: gpu_metrics, system_metrics, gpu_unavailable, monitor_error."""

    log_type = "system"

    def log_gpu_metrics(
        self,
        gpu_id: int,
        gpu_memory_used: float | None = None,
        gpu_memory_total: float | None = None,
        gpu_memory_percent: float | None = None,
        gpu_utilization: float | None = None,
        temperature: float | None = None,
        power_watts: float | None = None,
        **extra: Any,
    ) -> None:
        """Memory in MiB, utilization and memory in %, temperature in degrees C, power in W."""
        if gpu_memory_percent is None and gpu_memory_used is not None and gpu_memory_total:
            gpu_memory_percent = round(100.0 * gpu_memory_used / gpu_memory_total, 2)
        self._emit("INFO", "gpu_metrics", {
            "gpu_id": gpu_id, "gpu_memory_used": gpu_memory_used, "gpu_memory_total": gpu_memory_total,
            "gpu_memory_percent": gpu_memory_percent, "gpu_utilization": gpu_utilization,
            "temperature": temperature, "power_watts": power_watts,
        }, extra)

    def log_system_metrics(self, **metrics: Any) -> None:
        """CPU %, memory (MiB, %), disk (GiB, %); names carry their units."""
        self._emit("INFO", "system_metrics", {}, metrics)

    def log_gpu_unavailable(self, reason: str, **extra: Any) -> None:
        self._emit("WARNING", "gpu_unavailable", {}, {"reason": reason, **extra})

    def log_event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        """Any other system event with a fixed name (e.g. `monitor_error`)."""
        _level_value(level)  # a wrong level is a programming error: say which levels exist
        self._emit(level.upper(), event, {}, fields)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages
        parts = [m.get("content") if isinstance(m, dict) else m for m in value]
        return "\n".join(p if isinstance(p, str) else repr(p) for p in parts)
    return "" if value is None else repr(value)


def _error_fields(error: BaseException | str, with_traceback: bool = True) -> dict[str, Any]:
    if isinstance(error, BaseException):
        fields: dict[str, Any] = {"error": format_exception_message(error), "error_type": type(error).__name__}
        if with_traceback and error.__traceback__ is not None:
            fields["exception"] = redact_text("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        return fields
    return {"error": str(error), "error_type": "message"}
