"""The four typed loggers. Method names and arguments are those users of the original
system already call; each writes one event declared in events.py (its fields, types, units
and level live there, and the JSON Schema is derived from the same declaration)."""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable
from typing import Any

from logging_lib import events as ev
from logging_lib.base import TypedLogger, _level_value
from logging_lib.events import emits
from logging_lib.redaction import redact_text
from logging_lib.sanitize import format_exception_message


class TrainingLogger(TypedLogger):
    """`logs/training/`: epoch_start, training_step, validation, epoch_end, training_error."""

    log_type = "training"

    @emits(ev.EPOCH_START)
    def log_epoch_start(self, epoch: int, total_epochs: int, **extra: Any) -> None:
        self._emit(ev.EPOCH_START, (epoch, total_epochs), extra)

    @emits(ev.TRAINING_STEP)
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
        self._emit(ev.TRAINING_STEP, (epoch, step, loss, learning_rate, gpu_memory_used, gpu_memory_total), extra)

    @emits(ev.VALIDATION)
    def log_validation(self, epoch: float, val_loss: float, val_accuracy: float | None = None, **metrics: Any) -> None:
        self._emit(ev.VALIDATION, (epoch, val_loss, val_accuracy), metrics)

    @emits(ev.EPOCH_END)
    def log_epoch_end(self, epoch: float, avg_loss: float, time_elapsed: float, **extra: Any) -> None:
        """`time_elapsed` in seconds; written as `time_elapsed_s`."""
        self._emit(ev.EPOCH_END, (epoch, avg_loss, time_elapsed), extra)

    @emits(ev.TRAINING_ERROR)
    def log_error(self, error: BaseException | str, **context: Any) -> None:
        message, kind, exception = _error_fields(error, with_traceback=True)
        self._emit(ev.TRAINING_ERROR, (message, kind), {"exception": exception, **context} if exception else context)


# The client (benchmark_*) and the server (inference_*) write the same shapes; one method each,
# bound to either event.
def _named(method: Callable[..., None], event: ev.Event, doc: str) -> Callable[..., None]:
    """`inference_response` -> `InferenceLogger.log_response`, `benchmark_response` -> `...log_benchmark_response`."""
    method.__name__ = "log_" + event.name.removeprefix("inference_")
    method.__qualname__ = f"InferenceLogger.{method.__name__}"
    method.__doc__ = doc
    return method


def _request_method(event: ev.Event, doc: str) -> Callable[..., None]:
    @emits(event)
    def log_request(self: InferenceLogger, request_id: str, prompt: Any, model_name: str, **extra: Any) -> None:
        chars, digest = _text_summary(prompt)
        if self.log_prompts:
            extra = {"prompt": prompt, **extra}
        self._emit(event, (request_id, model_name, chars, digest), extra)

    return _named(log_request, event, doc)


def _response_method(event: ev.Event, doc: str) -> Callable[..., None]:
    @emits(event)
    def log_response(
        self: InferenceLogger,
        request_id: str,
        latency_ms: float,
        tokens_generated: int,
        model_name: str,
        ttft_ms: float | None = None,
        prompt_tokens: int | None = None,
        **extra: Any,
    ) -> None:
        if "completion" in extra:
            extra = {**extra}
            chars, digest = _text_summary(completion := extra.pop("completion"))
            extra.update({"completion_chars": chars, "completion_sha256": digest})
            if self.log_prompts:
                extra["completion"] = completion
        self._emit(event, (latency_ms, tokens_generated, _tokens_per_second(latency_ms, tokens_generated), ttft_ms,
                           prompt_tokens, request_id, model_name), extra)

    return _named(log_response, event, doc)


def _error_method(event: ev.Event, doc: str) -> Callable[..., None]:
    @emits(event)
    def log_error(self: InferenceLogger, request_id: str, error: BaseException | str, model_name: str | None = None,
                  **extra: Any) -> None:
        message, kind, _ = _error_fields(error, with_traceback=False)
        self._emit(event, (request_id, model_name, message, kind), extra)

    return _named(log_error, event, doc)


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

    log_request = _request_method(ev.INFERENCE_REQUEST, "One request as the server received it.")
    log_response = _response_method(
        ev.INFERENCE_RESPONSE, "`tokens_per_second` = tokens_generated / end-to-end latency.")
    log_error = _error_method(ev.INFERENCE_ERROR, "A request the server could not answer.")
    # -- the load generator's side (mlops bench) -------------------------------------
    log_benchmark_request = _request_method(ev.BENCHMARK_REQUEST, "One request as the load generator sent it.")
    log_benchmark_response = _response_method(
        ev.BENCHMARK_RESPONSE, "As the client measured it, from the actual send (as vLLM's benchmark): "
        "`latency_ms` to the last token, `ttft_ms` to the first; `send_lag_ms` is how late that send was.")
    log_benchmark_error = _error_method(ev.BENCHMARK_ERROR, "A request that failed, as the client saw it.")


class APILogger(TypedLogger):
    """`logs/api/`: api_request, api_response (level WARNING for 4xx, ERROR for 5xx)."""

    log_type = "api"

    @emits(ev.API_REQUEST)
    def log_request(self, request_id: str, method: str, path: str, **extra: Any) -> None:
        self._emit(ev.API_REQUEST, (request_id, method, path), extra)

    @emits(ev.API_RESPONSE)
    def log_response(self, request_id: str, status_code: int, duration_ms: float, **extra: Any) -> None:
        try:
            code = int(status_code)
        except (TypeError, ValueError):
            code = 0
        level = "ERROR" if code >= 500 else "WARNING" if code >= 400 else "INFO"
        self._emit(ev.API_RESPONSE, (status_code, duration_ms, request_id), extra, level)


class SystemLogger(TypedLogger):
    """`logs/system/`: gpu_metrics, system_metrics, gpu_unavailable, monitor_error."""

    log_type = "system"

    @emits(ev.GPU_METRICS)
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
        self._emit(ev.GPU_METRICS, (gpu_id, gpu_memory_used, gpu_memory_total, gpu_memory_percent, gpu_utilization,
                                    temperature, power_watts), extra)

    @emits(ev.SYSTEM_METRICS)
    def log_system_metrics(self, **metrics: Any) -> None:
        """CPU %, memory (MiB, %), disk (GiB, %); names carry their units."""
        self._emit(ev.SYSTEM_METRICS, (), metrics)

    @emits(ev.GPU_UNAVAILABLE)
    def log_gpu_unavailable(self, reason: str, **extra: Any) -> None:
        self._emit(ev.GPU_UNAVAILABLE, (reason,), extra)

    def log_event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        """Any other system event with a fixed name (e.g. `monitor_error`, `retention_*`)."""
        _level_value(level)  # a wrong level is a programming error: say which levels exist
        self._write_named(level.upper(), event, fields)


def _tokens_per_second(latency_ms: Any, tokens_generated: Any) -> float | None:
    try:
        if latency_ms and latency_ms > 0 and tokens_generated is not None:
            return round(float(tokens_generated) * 1000.0 / float(latency_ms), 3)
    except (TypeError, ValueError):
        pass
    return None


def _text_summary(value: Any) -> tuple[int, str]:
    """Length and a short sha256 of a prompt or completion: enough to group, nothing to read."""
    text = _as_text(value)
    return len(text), hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages
        parts = [m.get("content") if isinstance(m, dict) else m for m in value]
        return "\n".join(p if isinstance(p, str) else repr(p) for p in parts)
    return "" if value is None else repr(value)


def _error_fields(error: BaseException | str, with_traceback: bool) -> tuple[str, str, str | None]:
    """(message, type name, redacted traceback or None) of an exception or a plain message."""
    if isinstance(error, BaseException):
        exception = None
        if with_traceback and error.__traceback__ is not None:
            exception = redact_text("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        return format_exception_message(error), type(error).__name__, exception
    return str(error), "message", None
