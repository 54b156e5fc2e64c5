"""Every typed log event, declared once: name, logger (log_type), level, fields with types and units.

Two things are derived from a declaration here, so they cannot drift apart:
- the JSON Schema that `mlops logs validate`, the tests and the docs use (`schemas.event_schema`);
- what the typed method writes (`loggers.py`): a method passes its values in the order of the
  event's `written` fields; the writer (`steps.add_declared`) takes names, and whether a value is a
  number to coerce, from the declaration. `@emits(EVENT)` checks at import time that the method's
  parameters are the event's arguments.

A new event: add an `Event(...)` below (and to `EVENTS`), then a thin method in `loggers.py`
decorated with `@emits(...)`, or write it with `SystemLogger.log_event(name, ...)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from logging_lib.redaction import key_policy

NUMBER, INTEGER, STRING, STRING_OR_NULL, BOOLEAN, ANY = "number", "integer", "string", "string|null", "boolean", "any"
_KINDS = frozenset({NUMBER, INTEGER, STRING, STRING_OR_NULL, BOOLEAN, ANY})
LOG_TYPES = ("training", "inference", "system", "api")
_RESERVED = frozenset({"timestamp", "level", "message", "logger", "log_type"})


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an event line.

    `arg`: the method parameter the value comes from (default: the field's own name; "" when the
    method computes it, e.g. `tokens_per_second`). `extra`: callers add it as a keyword argument
    (`**extra`); the method does not write it itself, the schema still types it.
    `nullable` (numbers): JSON null is allowed (a NaN or a non-number is written as null).
    """

    name: str
    kind: str
    doc: str = ""
    required: bool = False
    nullable: bool = True
    arg: str | None = None
    extra: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"field {self.name!r}: unknown kind {self.kind!r}; use one of {sorted(_KINDS)}")
        if self.name in _RESERVED:
            raise ValueError(f"field {self.name!r} is one of the line's head keys; pick another name")
        secret, renamed, _ = key_policy(self.name)
        if secret or renamed is not None:
            raise ValueError(f"field {self.name!r} reads as a secret name and would be masked; rename it")
        if self.arg is None:
            object.__setattr__(self, "arg", self.name)

    @property
    def numeric(self) -> bool:
        """Written through the number path: numeric strings converted, NaN/inf -> null, None skipped."""
        return self.kind in (NUMBER, INTEGER)


def num(name: str, doc: str, *, required: bool = False, nullable: bool = True, arg: str | None = None,
        extra: bool = False) -> Field:
    return Field(name, NUMBER, doc, required, nullable, arg, extra)


def text(name: str, doc: str = "", *, required: bool = False, arg: str | None = None, extra: bool = False) -> Field:
    return Field(name, STRING, doc, required, True, arg, extra)


@dataclass(frozen=True)
class Event:
    """`level`: what the typed method writes (None: the caller or the call's values choose it).
    Warning and error events pin their level in the schema: alerts count them by level."""

    name: str
    log_type: str
    level: str | None
    fields: tuple[Field, ...]
    doc: str = ""
    written: tuple[Field, ...] = field(init=False, repr=False)
    plan: tuple[tuple[str, bool, bool], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.log_type not in LOG_TYPES:
            raise ValueError(f"event {self.name!r}: log_type {self.log_type!r} is not one of {LOG_TYPES}")
        if key_policy(self.name)[1] is not None:
            raise ValueError(f"event name {self.name!r} would be masked; rename it")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"event {self.name!r} declares a field twice: {names}")
        written = tuple(f for f in self.fields if not f.extra)
        object.__setattr__(self, "written", written)
        # what the writer needs per written field, computed once: (name, numeric?, an id?)
        object.__setattr__(self, "plan", tuple((f.name, f.numeric, key_policy(f.name)[2]) for f in written))

    @property
    def args(self) -> frozenset[str]:
        """The typed method's parameters (besides **extra)."""
        return frozenset(f.arg for f in self.written if f.arg)


_F = TypeVar("_F", bound=Callable[..., Any])


def emits(event: Event) -> Callable[[_F], _F]:
    """Tie a typed method to its event; its parameters must be the event's arguments (checked now,
    at import, so a field added to the declaration without its parameter cannot ship)."""

    def tie(method: _F) -> _F:
        params = [p for p in inspect.signature(method).parameters.values()
                  if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]
        if {p.name for p in params} != event.args:
            raise TypeError(f"{method.__qualname__} takes {[p.name for p in params]} but event {event.name!r} "
                            f"is written from {sorted(event.args)}; make them agree")
        method.__event__ = event  # type: ignore[attr-defined]
        return method

    return tie


# -- training ----------------------------------------------------------------------------------
EPOCH_START = Event("epoch_start", "training", "INFO", (
    num("epoch", "epoch number", required=True), num("total_epochs", "epochs planned", required=True)))
TRAINING_STEP = Event("training_step", "training", "INFO", (
    num("epoch", "fractional epoch", required=True), num("step", "optimizer step", required=True),
    num("loss", "training loss", required=True), num("learning_rate", "learning rate", required=True),
    num("gpu_memory_used", "MiB allocated on the GPU"), num("gpu_memory_total", "MiB the GPU has"),
    num("grad_norm", "gradient norm before clipping", extra=True)))
VALIDATION = Event("validation", "training", "INFO", (
    num("epoch", "fractional epoch", required=True), num("val_loss", "held-out loss", required=True),
    num("val_accuracy", "held-out accuracy, 0..1, when the caller has one"),
    num("perplexity", "exp(val_loss)", extra=True), num("step", "optimizer step", extra=True)))
EPOCH_END = Event("epoch_end", "training", "INFO", (
    num("epoch", "epoch", required=True), num("avg_loss", "mean training loss", required=True),
    num("time_elapsed_s", "seconds the epoch took", required=True, arg="time_elapsed")))
TRAINING_ERROR = Event("training_error", "training", "ERROR", (
    text("error", required=True), text("error_type", required=True, arg="error"), text("exception", extra=True)))


# -- inference: the server side (gateway) and the load generator's side (`mlops bench`) ---------
def _request(name: str) -> Event:
    return Event(name, "inference", "INFO", (
        text("request_id", required=True), text("model_name", required=True),
        num("prompt_chars", "prompt length in characters", required=True, nullable=False, arg="prompt"),
        text("prompt_sha256", "first 16 hex digits of the prompt's sha256", required=True, arg="prompt"),
        Field("prompt", ANY, "the raw prompt, only when log_prompts is on", extra=True)))


def _response(name: str, latency_doc: str, *more: Field) -> Event:
    return Event(name, "inference", "INFO", (
        num("latency_ms", latency_doc, required=True), num("tokens_generated", "completion tokens", required=True),
        num("tokens_per_second", "tokens_generated / latency", arg=""),
        num("ttft_ms", "time to first token, ms (streaming)"), num("prompt_tokens", "prompt tokens"),
        text("request_id", required=True), text("model_name", required=True), *more))


def _error(name: str) -> Event:
    return Event(name, "inference", "ERROR", (
        text("request_id", required=True), Field("model_name", STRING_OR_NULL), text("error", required=True),
        text("error_type", arg="error"), num("status", "HTTP status, when there was one", extra=True)))


# One request, one inference_response or inference_error (the gateway's view).
INFERENCE_REQUEST = _request("inference_request")
INFERENCE_RESPONSE = _response("inference_response", "end-to-end latency, ms")
INFERENCE_ERROR = _error("inference_error")
# The client's own events, so a benchmark through the gateway is not counted twice; joined to
# the gateway's lines by request_id (sent as X-Request-ID).
BENCHMARK_REQUEST = _request("benchmark_request")
BENCHMARK_RESPONSE = _response(
    "benchmark_response", "actual send to the last token, ms (as vLLM's benchmark; ttft_ms too counts from "
    "the actual send); add send_lag_ms for the latency from the planned send time",
    num("send_lag_ms", "how late the client sent it against its planned send time, ms", extra=True))
BENCHMARK_ERROR = _error("benchmark_error")

# -- api -----------------------------------------------------------------------------------------
API_REQUEST = Event("api_request", "api", "INFO", (
    text("request_id", required=True), text("method", required=True), text("path", required=True),
    num("request_bytes", "request body bytes", extra=True)))
API_RESPONSE = Event("api_response", "api", None, (  # INFO, WARNING for 4xx, ERROR for 5xx
    num("status_code", "HTTP status", required=True, nullable=False), num("duration_ms", "time in the service, ms",
                                                                          required=True),
    text("request_id", required=True), num("response_bytes", "response body bytes", extra=True)))

# -- system --------------------------------------------------------------------------------------
GPU_METRICS = Event("gpu_metrics", "system", "INFO", (
    num("gpu_id", "NVML index", required=True, nullable=False), num("gpu_memory_used", "MiB"),
    num("gpu_memory_total", "MiB"), num("gpu_memory_percent", "%"), num("gpu_utilization", "%"),
    num("temperature", "degrees C"), num("power_watts", "W")))
SYSTEM_METRICS = Event("system_metrics", "system", "INFO", (
    num("cpu_percent", "%", required=True, extra=True), num("memory_used_mib", "MiB", required=True, extra=True),
    num("memory_total_mib", "MiB", extra=True), num("memory_percent", "%", required=True, extra=True),
    num("disk_used_gib", "GiB", extra=True), num("disk_total_gib", "GiB", extra=True),
    num("disk_percent", "%", extra=True)))
GPU_UNAVAILABLE = Event("gpu_unavailable", "system", "WARNING", (text("reason", required=True),))
# Written with SystemLogger.log_event(name, level=..., **fields): every field comes as a keyword.
MONITOR_ERROR = Event("monitor_error", "system", "ERROR", (text("error", required=True, extra=True),))
RETENTION_ARCHIVED = Event("retention_archived", "system", "INFO", (
    text("source_log_type", required=True, extra=True), text("day", required=True, extra=True),
    text("key", required=True, extra=True),
    num("files", "files in the archive", required=True, nullable=False, extra=True),
    num("bytes_in", "bytes archived", nullable=False, extra=True),
    num("archive_bytes", "compressed bytes", required=True, nullable=False, extra=True),
    text("archive_sha256", extra=True), text("status", required=True, extra=True),
    num("duration_ms", "archive+upload+verify, ms", extra=True)))
RETENTION_FAILED = Event("retention_failed", "system", "ERROR", (
    text("source_log_type", "the group that failed; absent when the whole run failed", extra=True),
    text("day", extra=True), text("destination", extra=True),
    text("error", "the reason, naming what to fix", required=True, extra=True)))
RETENTION_KEPT = Event("retention_kept", "system", None, (  # written at WARNING
    text("file", "relative to the log dir", required=True, extra=True),
    text("reason", "e.g. held open by pid N without a lock", required=True, extra=True)))
RETENTION_SUMMARY = Event("retention_summary", "system", None, (  # INFO, or ERROR when something failed
    Field("dry_run", BOOLEAN, required=True, extra=True), text("destination", required=True, extra=True),
    num("deleted", "files deleted", required=True, nullable=False, extra=True),
    num("skipped", "files skipped", nullable=False, extra=True),
    num("pruned", "old backups pruned", nullable=False, extra=True),
    Field("archives", INTEGER, required=True, extra=True), Field("errors", INTEGER, required=True, extra=True)))
PROMOTION_DECISION = Event("promotion_decision", "system", None, (  # INFO when passed, WARNING when rejected
    text("model_name", "registered model", required=True, extra=True),
    text("candidate_version", required=True, extra=True),
    Field("champion_version", STRING_OR_NULL, "the version compared with; null when none", extra=True),
    text("mode", "head_to_head (intervals against the champion) or absolute (fixed thresholds)",
         required=True, extra=True),
    Field("passed", BOOLEAN, required=True, extra=True), Field("promoted", BOOLEAN, required=True, extra=True),
    text("failed_checks", "comma-separated names of the checks that failed; empty when none", extra=True),
    Field("metrics_compared", INTEGER, "head to head: metrics decided by interval", extra=True),
    Field("metrics_worse", INTEGER, "head to head: metrics whose interval lies wholly on the bad side", extra=True),
    Field("quality_items", INTEGER, "head to head: paired held-out items", extra=True),
    Field("latency_requests", INTEGER, "head to head: requests per model in the interleaved run", extra=True),
    text("summary", "the gate's one-line reason", extra=True)))

EVENTS: dict[str, Event] = {e.name: e for e in (
    EPOCH_START, TRAINING_STEP, VALIDATION, EPOCH_END, TRAINING_ERROR,
    INFERENCE_REQUEST, INFERENCE_RESPONSE, INFERENCE_ERROR, BENCHMARK_REQUEST, BENCHMARK_RESPONSE, BENCHMARK_ERROR,
    API_REQUEST, API_RESPONSE,
    GPU_METRICS, SYSTEM_METRICS, GPU_UNAVAILABLE, MONITOR_ERROR,
    RETENTION_ARCHIVED, RETENTION_FAILED, RETENTION_KEPT, RETENTION_SUMMARY, PROMOTION_DECISION,
)}
