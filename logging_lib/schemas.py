"""One JSON Schema per event type, derived from its declaration in events.py, and validation
of log files against them.

A line whose `message` names a typed event is checked against that event's schema; any
other line (free-form `.logger` messages) against the common base. Extra fields are
allowed everywhere; the declared fields have fixed types and units.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from logging_lib.events import ANY, BOOLEAN, EVENTS, INTEGER, NUMBER, STRING, STRING_OR_NULL, Event, Field
from logging_lib.line_layout import HEAD_KEYS

_STR = {"type": "string"}

BASE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "log line",
    "type": "object",
    "required": list(HEAD_KEYS),
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

_TYPES = {NUMBER: "number", INTEGER: "integer", STRING: "string", STRING_OR_NULL: ["string", "null"],
          BOOLEAN: "boolean"}


def field_schema(f: Field) -> dict[str, Any]:
    """A field's JSON Schema, from its declaration in events.py."""
    out: dict[str, Any] = {}
    if f.kind == NUMBER:
        out["type"] = ["number", "null"] if f.nullable else "number"
    elif f.kind != ANY:
        out["type"] = _TYPES[f.kind]
    if f.doc:
        out["description"] = f.doc
    return out


def event_schema(event: Event) -> dict[str, Any]:
    """An event's JSON Schema: the common line head plus the event's declared fields."""
    schema = {
        **BASE_SCHEMA,
        "title": event.name,
        "required": BASE_SCHEMA["required"] + [f.name for f in event.fields if f.required],
        "properties": {**BASE_SCHEMA["properties"], **{f.name: field_schema(f) for f in event.fields},
                       "message": {"const": event.name}, "log_type": {"const": event.log_type}},
    }
    if event.level in ("WARNING", "ERROR", "CRITICAL"):  # alerts count these by level
        schema["properties"]["level"] = {"const": event.level}
    return schema


EVENT_SCHEMAS: dict[str, dict[str, Any]] = {name: event_schema(event) for name, event in EVENTS.items()}
LOG_TYPE_OF_EVENT: dict[str, str] = {name: event.log_type for name, event in EVENTS.items()}


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
