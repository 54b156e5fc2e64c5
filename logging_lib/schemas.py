"""One JSON Schema per event type, and validation of log files against them.

A line whose `message` names a typed event is checked against that event's schema; any
other line (free-form `.logger` messages) against the common base. Extra fields are
allowed everywhere; the fields named here have fixed types and units.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

LOG_TYPE_OF_EVENT: dict[str, str] = {}

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT = {"type": "integer"}
_STR = {"type": "string"}


def _n(description: str, nullable: bool = True) -> dict[str, Any]:
    return {**(_NUM_OR_NULL if nullable else _NUM), "description": description}


BASE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "log line",
    "type": "object",
    "required": ["timestamp", "level", "message", "logger", "log_type"],
    "properties": {
        "timestamp": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
                      "description": "ISO-8601 UTC, millisecond precision"},
        "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
        "message": {"type": "string", "description": "the event name (or a free-form message)"},
        "logger": {"type": "string", "description": "the logger's name"},
        "log_type": {"enum": ["training", "inference", "system", "api"]},
        "flow_run_id": {**_STR, "description": "Prefect flow run id, inside a Prefect run"},
        "task_run_id": {**_STR, "description": "Prefect task run id, inside a Prefect task"},
        "mlflow_run_id": {**_STR, "description": "MLflow run id, bound around a training run"},
        "benchmark_run_id": {**_STR, "description": "one `mlops bench` run, bound around its requests"},
        "request_id": _STR,
        "nonfinite_fields": {"type": "array", "items": _STR, "description": "fields that were NaN/inf, logged as null"},
        "invalid_fields": {"type": "array", "items": _STR, "description": "fields that were not numbers, logged as null"},
    },
}

_REQUEST: dict[str, Any] = {
    "request_id": _STR, "model_name": _STR, "prompt_chars": _n("prompt length in characters", False),
    "prompt_sha256": {**_STR, "description": "first 16 hex digits of the prompt's sha256"},
    "prompt": {"description": "the raw prompt, only when log_prompts is on"},
}
_REQUEST_REQUIRED = ["request_id", "model_name", "prompt_chars", "prompt_sha256"]
_RESPONSE: dict[str, Any] = {
    "request_id": _STR, "model_name": _STR, "latency_ms": _n("end-to-end latency, ms"),
    "tokens_generated": _n("completion tokens"), "tokens_per_second": _n("tokens_generated / latency"),
    "ttft_ms": _n("time to first token, ms (streaming)"), "prompt_tokens": _n("prompt tokens"),
}
_RESPONSE_REQUIRED = ["request_id", "model_name", "latency_ms", "tokens_generated"]
_ERROR: dict[str, Any] = {"request_id": _STR, "model_name": {"type": ["string", "null"]}, "error": _STR,
                          "error_type": _STR, "status": _n("HTTP status, when there was one")}

_EVENTS: dict[str, tuple[str, str, dict[str, Any], list[str]]] = {
    # event: (log_type, level constraint or "", properties, required)
    "epoch_start": ("training", "", {"epoch": _n("epoch number"), "total_epochs": _n("epochs planned")},
                    ["epoch", "total_epochs"]),
    "training_step": ("training", "", {
        "epoch": _n("fractional epoch"), "step": _n("optimizer step"), "loss": _n("training loss"),
        "learning_rate": _n("learning rate"), "gpu_memory_used": _n("MiB allocated on the GPU"),
        "gpu_memory_total": _n("MiB the GPU has"), "grad_norm": _n("gradient norm before clipping"),
    }, ["epoch", "step", "loss", "learning_rate"]),
    "validation": ("training", "", {"epoch": _n("fractional epoch"), "val_loss": _n("held-out loss"),
                                    "val_accuracy": _n("held-out accuracy, 0..1, when the caller has one"),
                                    "perplexity": _n("exp(val_loss)"), "step": _n("optimizer step")},
                   ["epoch", "val_loss"]),
    "epoch_end": ("training", "", {"epoch": _n("epoch"), "avg_loss": _n("mean training loss"),
                                   "time_elapsed_s": _n("seconds the epoch took")},
                  ["epoch", "avg_loss", "time_elapsed_s"]),
    "training_error": ("training", "ERROR", {"error": _STR, "error_type": _STR, "exception": _STR},
                       ["error", "error_type"]),
    # The server side (gateway): one request, one inference_response or inference_error.
    "inference_request": ("inference", "", _REQUEST, _REQUEST_REQUIRED),
    "inference_response": ("inference", "", _RESPONSE, _RESPONSE_REQUIRED),
    "inference_error": ("inference", "ERROR", _ERROR, ["request_id", "error"]),
    # The load generator's side (`mlops bench`) of the same requests: its own events, so a
    # benchmark through the gateway is not counted twice; joined to the gateway's by request_id.
    "benchmark_request": ("inference", "", _REQUEST, _REQUEST_REQUIRED),
    "benchmark_response": ("inference", "", {
        **_RESPONSE, "latency_ms": _n("planned send time to the last token, ms (as vLLM's benchmark)"),
        "send_lag_ms": _n("how late the client sent it, ms"),
    }, _RESPONSE_REQUIRED),
    "benchmark_error": ("inference", "ERROR", _ERROR, ["request_id", "error"]),
    "api_request": ("api", "", {"request_id": _STR, "method": _STR, "path": _STR,
                                "request_bytes": _n("request body bytes")}, ["request_id", "method", "path"]),
    "api_response": ("api", "", {"request_id": _STR, "status_code": _n("HTTP status", False),
                                 "duration_ms": _n("time in the service, ms"),
                                 "response_bytes": _n("response body bytes")},
                     ["request_id", "status_code", "duration_ms"]),
    "gpu_metrics": ("system", "", {
        "gpu_id": _n("NVML index", False), "gpu_memory_used": _n("MiB"), "gpu_memory_total": _n("MiB"),
        "gpu_memory_percent": _n("%"), "gpu_utilization": _n("%"), "temperature": _n("degrees C"),
        "power_watts": _n("W"),
    }, ["gpu_id"]),
    "system_metrics": ("system", "", {
        "cpu_percent": _n("%"), "memory_used_mib": _n("MiB"), "memory_total_mib": _n("MiB"),
        "memory_percent": _n("%"), "disk_used_gib": _n("GiB"), "disk_total_gib": _n("GiB"), "disk_percent": _n("%"),
    }, ["cpu_percent", "memory_used_mib", "memory_percent"]),
    "gpu_unavailable": ("system", "WARNING", {"reason": _STR}, ["reason"]),
    "monitor_error": ("system", "ERROR", {"error": _STR}, ["error"]),
    "retention_archived": ("system", "", {
        "source_log_type": _STR, "day": _STR, "key": _STR, "files": _n("files in the archive", False),
        "bytes_in": _n("bytes archived", False), "archive_bytes": _n("compressed bytes", False),
        "archive_sha256": _STR, "status": _STR, "duration_ms": _n("archive+upload+verify, ms"),
    }, ["source_log_type", "day", "key", "files", "archive_bytes", "status"]),
    "retention_failed": ("system", "ERROR", {
        "source_log_type": {**_STR, "description": "the group that failed; absent when the whole run failed"},
        "day": _STR, "destination": _STR, "error": {**_STR, "description": "the reason, naming what to fix"},
    }, ["error"]),
    "retention_kept": ("system", "", {"file": {**_STR, "description": "relative to the log dir"},
                                      "reason": {**_STR, "description": "e.g. held open by pid N without a lock"}},
                       ["file", "reason"]),
    "retention_summary": ("system", "", {
        "dry_run": {"type": "boolean"}, "destination": _STR, "deleted": _n("files deleted", False),
        "skipped": _n("files skipped", False), "pruned": _n("old backups pruned", False),
        "archives": {"type": "integer"}, "errors": {"type": "integer"},
    }, ["dry_run", "destination", "deleted", "archives", "errors"]),
}


def _event_schema(event: str) -> dict[str, Any]:
    log_type, level, props, required = _EVENTS[event]
    schema = {
        **BASE_SCHEMA,
        "title": event,
        "required": BASE_SCHEMA["required"] + required,
        "properties": {**BASE_SCHEMA["properties"], **props, "message": {"const": event},
                       "log_type": {"const": log_type}},
    }
    if level:
        schema["properties"]["level"] = {"const": level}
    return schema


EVENT_SCHEMAS: dict[str, dict[str, Any]] = {name: _event_schema(name) for name in _EVENTS}
LOG_TYPE_OF_EVENT.update({name: spec[0] for name, spec in _EVENTS.items()})


def all_schemas() -> dict[str, Any]:
    return {"base": BASE_SCHEMA, "events": EVENT_SCHEMAS}


@dataclass
class FileReport:
    path: Path
    lines: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_validators: dict[str, Any] = {}


def _validator(event: str | None) -> Any:
    key = event or ""
    if key not in _validators:
        from jsonschema import Draft202012Validator

        _validators[key] = Draft202012Validator(EVENT_SCHEMAS[event] if event else BASE_SCHEMA)
    return _validators[key]


def validate_line(raw: bytes | str) -> list[str]:
    """Problems with one line (empty when it is valid)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [f"not JSON ({exc})"]
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    message = obj.get("message")
    event = message if isinstance(message, str) and message in EVENT_SCHEMAS else None
    problems = []
    for err in _validator(event).iter_errors(obj):
        where = "/".join(str(p) for p in err.absolute_path) or "(line)"
        problems.append(f"{where}: {err.message}")
    return problems


def validate_file(path: Path, max_errors: int = 20) -> FileReport:
    report = FileReport(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            report.lines = number
            if not raw.endswith(b"\n"):
                report.errors.append(f"line {number}: unterminated (torn) last line")
            stripped = raw.strip()
            if not stripped:
                report.errors.append(f"line {number}: empty line")
                continue
            for problem in validate_line(stripped):
                report.errors.append(f"line {number}: {problem}")
            if len(report.errors) >= max_errors:
                report.errors.append(f"... stopped after {max_errors} errors")
                break
    return report


def iter_log_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders expand to their `*.log` files, recursively, sorted."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(p.rglob("*.log"))
        else:
            yield p
