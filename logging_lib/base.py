"""The typed logger every domain logger derives from: holds a logger's settings and its file,
and runs the steps of steps.py for each line.

Typed methods (loggers.py) call `_emit(EVENT, values, extra)` with an event declared in
events.py: the hot path. `.logger` is a structlog BoundLogger built with `wrap_logger`, so
free-form messages get the same shape without touching structlog's global configuration; both
end in `_output`, the one place a line is written and echoed.
"""

from __future__ import annotations

import sys
import traceback
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import structlog

from logging_lib.events import Event
from logging_lib.paths import resolve_log_dir, safe_name
from logging_lib.redaction import redact_text
from logging_lib.sanitize import DEFAULT_MAX_STR_CHARS, Problems, clean
from logging_lib.sink import DEFAULT_MAX_BYTES, acquire_sink, release_sink
from logging_lib.steps import (RESERVED_KEYS, add_context, add_declared, add_fields, echo, event_name,
                               iso_now, line_template, new_line, render)

__all__ = ["LEVELS", "RESERVED_KEYS", "TypedLogger", "iso_now"]

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_METHOD_LEVEL = {
    "debug": "DEBUG", "info": "INFO", "msg": "INFO", "log": "INFO", "warning": "WARNING", "warn": "WARNING",
    "error": "ERROR", "exception": "ERROR", "critical": "CRITICAL", "fatal": "CRITICAL",
}


class _Named(NamedTuple):
    """An event known only by its name (no declared fields)."""

    name: str
    level: str
    plan: tuple[tuple[str, bool, bool], ...]


def _level_value(level: str) -> int:
    try:
        return LEVELS[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}") from None


class TypedLogger:
    """Base of TrainingLogger, InferenceLogger, SystemLogger and APILogger."""

    log_type: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        log_dir: str | None = None,
        *,
        level: str = "INFO",
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_str_chars: int = DEFAULT_MAX_STR_CHARS,
        console: bool = False,
        clock: Callable[[], str] = iso_now,
    ) -> None:
        """`clock` returns each line's timestamp (ISO-8601 UTC with `Z`); a replay or a
        benchmark that writes hours of lines in seconds passes a simulated one."""
        self.name = str(name)
        self._clock = clock
        self.log_dir = resolve_log_dir(log_dir)
        self._min_level = _level_value(level)
        self._max_str = max_str_chars
        self._console = console
        self._head = line_template(self.name, self.log_type)
        self._sink = acquire_sink(self.log_dir / self.log_type, safe_name(self.name), max_bytes)
        # A logger dropped without close() still gives its file back when collected.
        self._release = weakref.finalize(self, release_sink, self._sink)
        self.logger = structlog.wrap_logger(
            _SinkWriter(self),
            processors=[self._free_form],
            wrapper_class=structlog.make_filtering_bound_logger(self._min_level),
            context_class=dict,
            cache_logger_on_first_use=True,
        )

    @property
    def path(self):
        """The file currently written (changes on rollover)."""
        return self._sink.path

    def close(self) -> None:
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the hot path ---------------------------------------------------------------
    def _emit(self, event: Event | _Named, values: tuple[Any, ...], extra: dict[str, Any] | None,
              level: str | None = None) -> None:
        """One declared event: `values` in the order of `event.written` (checked by `@emits`)."""
        level = level or event.level
        if LEVELS[level] < self._min_level:
            return
        problems = Problems()
        line = new_line(self._head, self._clock(), level, event.name)
        if event.plan:
            add_declared(line, event.plan, values, problems, self._max_str)
        if extra:
            add_fields(line, extra, problems, self._max_str)
        add_context(line, problems, self._max_str)
        if problems.nonfinite or problems.invalid:
            problems.apply(line)
        self._output(line)

    def _output(self, line: dict[str, Any]) -> None:
        """The one place a line leaves: its file, and the console when `console=True`."""
        self._sink.write(render(line))
        if self._console:
            echo(line)

    def _write_named(self, level: str, name: str, fields: dict[str, Any]) -> None:
        """An event known only by name (`SystemLogger.log_event`): the name is masked if need be."""
        self._emit(_Named(event_name(name), level, ()), (), fields)

    # -- free-form messages through structlog ----------------------------------------
    def _free_form(self, _logger: Any, method_name: str, event_dict: dict[str, Any]) -> tuple[tuple[Any], dict]:
        """structlog's last processor: build the line with the same steps; `_SinkWriter` outputs it."""
        level = _METHOD_LEVEL.get(method_name, "INFO")
        message = event_dict.pop("event", "")
        exc_info = event_dict.pop("exc_info", method_name == "exception")
        problems = Problems()
        if type(message) is not str:
            message = clean(message, "message", problems, self._max_str)
        if isinstance(message, str):
            message = redact_text(message)
        line = new_line(self._head, self._clock(), level, message)
        add_fields(line, event_dict, problems, self._max_str)
        if exc_info:
            text = _format_exc_info(exc_info)
            if text:
                line["exception"] = redact_text(text)
        add_context(line, problems, self._max_str)
        if problems.nonfinite or problems.invalid:
            problems.apply(line)
        return (line,), {}


class _SinkWriter:
    """What structlog's BoundLogger writes to: every level method outputs the finished line."""

    __slots__ = ("_owner",)

    def __init__(self, owner: TypedLogger) -> None:
        self._owner = owner

    def _write(self, line: dict[str, Any]) -> None:
        self._owner._output(line)

    msg = log = debug = info = warning = warn = error = exception = critical = fatal = _write


def _format_exc_info(exc_info: Any) -> str:
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(type(exc_info), exc_info, exc_info.__traceback__))
    if isinstance(exc_info, tuple):
        return "".join(traceback.format_exception(*exc_info))
    if exc_info:
        info = sys.exc_info()
        if info[0] is not None:
            return "".join(traceback.format_exception(*info))
    return ""
