"""The machinery every typed logger shares: building one event, rendering it, writing it.

An event is built in a fixed order (timestamp, level, message, logger, log_type, the
event's fields, bound context, Prefect run ids), sanitised (sanitize.py), rendered with
orjson and handed to the process-wide FileSink in one write. Typed methods call `_emit`
directly (the hot path); `.logger` is a structlog BoundLogger built with `wrap_logger`, so
free-form messages get the same shape without touching structlog's global configuration.
"""

from __future__ import annotations

import sys
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
import structlog

from logging_lib.context import _bound, prefect_run_ids
from logging_lib.paths import resolve_log_dir, safe_name
from logging_lib.redaction import KEY_POLICIES, MASK, key_policy, redact_text, unique_key
from logging_lib.sanitize import DEFAULT_MAX_STR_CHARS, Problems, clean, number
from logging_lib.sink import DEFAULT_MAX_BYTES, acquire_sink, release_sink

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_METHOD_LEVEL = {
    "debug": "DEBUG", "info": "INFO", "msg": "INFO", "log": "INFO", "warning": "WARNING", "warn": "WARNING",
    "error": "ERROR", "exception": "ERROR", "critical": "CRITICAL", "fatal": "CRITICAL",
}
RESERVED_KEYS = frozenset({"timestamp", "level", "message", "logger", "log_type"})
_ORJSON_OPTS = orjson.OPT_APPEND_NEWLINE
_INT64 = 2**63
_dumps = orjson.dumps  # every value reaching it went through clean()/number(), so it cannot fail
_policy = KEY_POLICIES.get  # key -> (secret?, masked key or None, id?); key_policy() fills it

_ts_second = -1
_ts_prefix = ""
_MS_SUFFIX = tuple(f".{ms:03d}Z" for ms in range(1000))


def iso_now() -> str:
    """ISO-8601 UTC with milliseconds and `Z`; the strftime part is cached per second."""
    global _ts_second, _ts_prefix
    now = time.time()
    second = int(now)
    if second != _ts_second:
        _ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _ts_second = second
    return _ts_prefix + _MS_SUFFIX[int((now - second) * 1000)]


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
        self._sink = acquire_sink(self.log_dir / self.log_type, safe_name(self.name), max_bytes)
        # A logger dropped without close() still gives its file back when collected.
        self._release = weakref.finalize(self, release_sink, self._sink)
        self.logger = structlog.wrap_logger(
            _SinkWriter(self),
            processors=[self._render_free_form],
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
    def _emit(self, level: str, message: str, numbers: dict[str, Any], extra: dict[str, Any] | None) -> None:
        # The hot path: plain finite numbers and short clean strings skip the general sanitiser.
        if LEVELS[level] < self._min_level:
            return
        problems = Problems()
        event: dict[str, Any] = {
            "timestamp": self._clock(), "level": level, "message": (_policy(message) or key_policy(message))[1] or message, "logger": self.name,
            "log_type": self.log_type,
        }
        for key, value in numbers.items():
            kind = type(value)
            if kind is float:
                event[key] = value if value - value == 0.0 else number(value, key, problems)
            elif kind is int:
                event[key] = value if -_INT64 <= value < _INT64 else number(value, key, problems)
            elif value is not None:
                event[key] = number(value, key, problems)
        if extra:
            self._add_fields(event, extra, problems)
        self._add_context(event, problems)
        self._sink.write(_dumps(event, option=_ORJSON_OPTS))
        if self._console:
            _echo(event)

    def _add_fields(self, event: dict[str, Any], fields: dict[str, Any], problems: Problems) -> None:
        max_str = self._max_str
        for key, value in fields.items():
            if type(key) is not str:
                key = str(key)
            if key in RESERVED_KEYS:
                key = f"extra_{key}"
            secret, renamed, is_id = _policy(key) or key_policy(key)
            if renamed is not None:  # the key itself carries a secret
                key = unique_key(renamed, event, len(event))
            if secret:
                event[key] = MASK
            elif type(value) is float and value - value == 0.0:
                event[key] = value
            else:
                event[key] = clean(value, key, problems, max_str, 0, is_id)

    def _add_context(self, event: dict[str, Any], problems: Problems) -> None:
        context = _bound.get()
        if context:
            for key, value in context.items():
                if key not in event:
                    secret, renamed, is_id = _policy(key) or key_policy(key)
                    event[key if renamed is None else unique_key(renamed, event, len(event))] = (
                        MASK if secret else clean(value, key, problems, self._max_str, 0, is_id))
        if "prefect" in sys.modules:
            for key, value in prefect_run_ids().items():
                event.setdefault(key, value)
        if problems.nonfinite or problems.invalid:
            problems.apply(event)

    @staticmethod
    def _render(event: dict[str, Any]) -> bytes:
        return _dumps(event, option=_ORJSON_OPTS)

    # -- free-form messages through structlog ----------------------------------------
    def _render_free_form(self, _logger: Any, method_name: str, event_dict: dict[str, Any]) -> bytes:
        level = _METHOD_LEVEL.get(method_name, "INFO")
        message = event_dict.pop("event", "")
        exc_info = event_dict.pop("exc_info", method_name == "exception")
        problems = Problems()
        event: dict[str, Any] = {
            "timestamp": self._clock(), "level": level,
            "message": message if type(message) is str else clean(message, "message", problems, self._max_str),
            "logger": self.name, "log_type": self.log_type,
        }
        if isinstance(event["message"], str):
            event["message"] = redact_text(event["message"])
        self._add_fields(event, event_dict, problems)
        if exc_info:
            text = _format_exc_info(exc_info)
            if text:
                event["exception"] = redact_text(text)
        self._add_context(event, problems)
        if self._console:
            _echo(event)
        return self._render(event)


class _SinkWriter:
    """What structlog's BoundLogger writes to: every level method writes the rendered bytes."""

    __slots__ = ("_owner",)

    def __init__(self, owner: TypedLogger) -> None:
        self._owner = owner

    def _write(self, line: bytes) -> None:
        self._owner._sink.write(line)

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


_COLORS = {"DEBUG": "\033[2m", "INFO": "\033[36m", "WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[1;31m"}


def _echo(event: dict[str, Any]) -> None:
    """Human-readable console line for interactive runs (stderr, colour on a terminal)."""
    skip = RESERVED_KEYS | {"flow_run_id", "task_run_id"}
    fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in skip)
    level = event["level"]
    tty = sys.stderr.isatty()
    color, reset = (_COLORS.get(level, ""), "\033[0m") if tty else ("", "")
    print(f"{event['timestamp'][11:23]} {color}{level:<7}{reset} [{event['logger']}] {event['message']} {fields}",
          file=sys.stderr)
