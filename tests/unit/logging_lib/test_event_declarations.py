"""Each event is declared once (events.py): the typed method writes exactly the declared fields,
and the JSON Schema is derived from the same declaration."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from logging_lib import APILogger, InferenceLogger, SystemLogger, TrainingLogger
from logging_lib import events as ev
from logging_lib.line_layout import HEAD_KEYS
from logging_lib.schemas import EVENT_SCHEMAS, event_schema, validate_line

LOGGERS = (TrainingLogger, InferenceLogger, APILogger, SystemLogger)
TYPED = [(cls, name, fn.__event__) for cls in LOGGERS for name, fn in vars(cls).items() if hasattr(fn, "__event__")]


def _sample_args(method: Any, event: ev.Event) -> dict[str, Any]:
    """A real value for every parameter: a number where a numeric field comes from it, else text."""
    args = {}
    for p in inspect.signature(method).parameters.values():
        if p.name == "self" or p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        numeric = any(f.numeric for f in event.written if f.arg == p.name)
        args[p.name] = 200 if numeric else f"v_{p.name}"
    for f in event.fields:  # required fields that come as keywords (system_metrics)
        if f.extra and f.required:
            args[f.name] = 1.5 if f.numeric else f"v_{f.name}"
    return args


def test_every_typed_method_is_tied_to_a_declared_event():
    names = {f"{cls.__name__}.{name}" for cls, name, _ in TYPED}
    assert names == {
        "TrainingLogger.log_epoch_start", "TrainingLogger.log_step", "TrainingLogger.log_validation",
        "TrainingLogger.log_epoch_end", "TrainingLogger.log_error",
        "InferenceLogger.log_request", "InferenceLogger.log_response", "InferenceLogger.log_error",
        "InferenceLogger.log_benchmark_request", "InferenceLogger.log_benchmark_response",
        "InferenceLogger.log_benchmark_error",
        "APILogger.log_request", "APILogger.log_response",
        "SystemLogger.log_gpu_metrics", "SystemLogger.log_system_metrics", "SystemLogger.log_gpu_unavailable",
    }
    assert all(getattr(cls, name).__name__ == name for cls, name, _ in TYPED)  # help() and tracebacks
    assert all(EVENT_SCHEMAS[event.name] == event_schema(ev.EVENTS[event.name]) for _, _, event in TYPED)
    # the rest are written by name through SystemLogger.log_event, every field a keyword
    by_name = set(ev.EVENTS) - {event.name for _, _, event in TYPED}
    assert by_name == {"monitor_error", "retention_archived", "retention_failed", "retention_kept",
                       "retention_summary", "promotion_decision"}
    assert all(f.extra for name in by_name for f in ev.EVENTS[name].fields)


@pytest.mark.parametrize(("cls", "method_name", "event"), TYPED, ids=[f"{c.__name__}.{m}" for c, m, _ in TYPED])
def test_a_method_writes_exactly_its_declared_fields_in_declared_order(log_dir, cls, method_name, event):
    log = cls("decl", log_dir=log_dir)
    method = getattr(log, method_name)
    method(**_sample_args(method, event))
    log.close()
    (path,) = (log_dir / cls.log_type).glob("*.log")
    raw = path.read_bytes()
    line = orjson.loads(raw)
    assert list(line)[:len(HEAD_KEYS)] == list(HEAD_KEYS)
    assert line["message"] == event.name and line["log_type"] == event.log_type
    if event.level:
        assert line["level"] == event.level
    assert list(line)[len(HEAD_KEYS):] == [f.name for f in event.written + tuple(
        f for f in event.fields if f.extra and f.required)]
    assert validate_line(raw) == []


def test_a_field_added_to_a_declaration_shows_up_in_the_schema_and_the_written_line(log_dir):
    """One declaration drives both: add `tokens_seen` to training_step in one place."""
    new_field = ev.num("tokens_seen", "tokens trained on so far", required=True)
    declared = dataclasses.replace(ev.TRAINING_STEP, fields=(*ev.TRAINING_STEP.fields, new_field))

    schema = event_schema(declared)
    assert schema["properties"]["tokens_seen"] == {"type": ["number", "null"],
                                                   "description": "tokens trained on so far"}
    assert "tokens_seen" in schema["required"] and "tokens_seen" not in EVENT_SCHEMAS["training_step"]["required"]

    with pytest.raises(TypeError, match="tokens_seen"):  # today's method does not take it: it cannot be tied to it
        ev.emits(declared)(TrainingLogger.log_step)

    class Logger(TrainingLogger):
        @ev.emits(declared)
        def log_step(self, epoch, step, loss, learning_rate, gpu_memory_used=None, gpu_memory_total=None,
                     tokens_seen=None, **extra):
            self._emit(declared, (epoch, step, loss, learning_rate, gpu_memory_used, gpu_memory_total, tokens_seen),
                       extra)

    log = Logger("decl", log_dir=log_dir)
    log.log_step(1, 2, 0.5, 1e-4, tokens_seen="4096", grad_norm=0.7)
    log.log_step(1, 3, 0.5, 1e-4)
    log.close()
    (path,) = (log_dir / "training").glob("*.log")
    first, second = map(orjson.loads, path.read_bytes().splitlines())
    assert first["tokens_seen"] == 4096.0  # a numeric string becomes a number: the field is declared numeric
    assert list(first)[len(HEAD_KEYS):] == ["epoch", "step", "loss", "learning_rate", "tokens_seen", "grad_norm"]
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(first))
    assert [e.message for e in validator.iter_errors(second)] == ["'tokens_seen' is a required property"]


@pytest.mark.parametrize("bad", [
    lambda: ev.Field("x", "float"),
    lambda: ev.num("level", "a head key"),
    lambda: ev.text("api_key"),
    lambda: ev.Event("e", "training", "INFO", (ev.num("a", "x"), ev.num("a", "y"))),
    lambda: ev.Event("e", "gpu", "INFO", ()),
], ids=["unknown kind", "head key", "secret name", "field twice", "unknown log_type"])
def test_a_bad_declaration_fails_at_import_with_what_to_fix(bad):
    with pytest.raises(ValueError):
        bad()
