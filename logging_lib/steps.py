"""The steps one log line goes through, each a plain function, called in this order by
`TypedLogger._emit` (typed events) and `TypedLogger._free_form` (free-form `.logger` messages):

    clock()            -> timestamp             (injected: `TypedLogger(clock=...)`, default `iso_now`)
    level filter       -> drop below the logger's level (in the caller: one comparison)
    event_name         -> the message, masked where it carries a secret shape
    new_line           -> {timestamp, level, message, logger, log_type}, in line_layout.HEAD_KEYS order
    add_declared       -> the event's declared fields (events.py), numbers coerced
    add_fields         -> the caller's extra keyword fields, sanitised, secret keys masked
    add_context        -> bound context (`bind_context`), then the Prefect run ids
    Problems.apply     -> `nonfinite_fields` / `invalid_fields`, when a value had to become null
    render             -> one orjson line
    output             -> `FileSink.write`, plus the one console echo (`echo`) when asked

No list of processors is walked per event: the steps are called directly, which keeps the
hot path within bench/logging_throughput.py's targets.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson

from logging_lib.context import _bound, prefect_run_ids
from logging_lib.line_layout import HEAD_KEYS
from logging_lib.redaction import KEY_POLICIES, MASK, key_policy, unique_key
from logging_lib.sanitize import Problems, clean, number

RESERVED_KEYS = frozenset(HEAD_KEYS)
_INT64 = 2**63
_ORJSON_OPTS = orjson.OPT_APPEND_NEWLINE
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


def line_template(logger: str, log_type: str) -> dict[str, Any]:
    """The head every line starts with, keys in `HEAD_KEYS` order (the byte layout fast readers
    rely on); `new_line` copies it, so the order is fixed here once, per logger."""
    head = dict.fromkeys(HEAD_KEYS)
    head["logger"] = logger
    head["log_type"] = log_type
    return head


def new_line(template: dict[str, Any], timestamp: str, level: str, message: Any) -> dict[str, Any]:
    line = template.copy()
    line["timestamp"] = timestamp
    line["level"] = level
    line["message"] = message
    return line


def event_name(name: str) -> str:
    """An event name as written: masked where the name itself carries a secret shape."""
    return (_policy(name) or key_policy(name))[1] or name


def add_declared(line: dict[str, Any], plan: tuple[tuple[str, bool, bool], ...], values: tuple[Any, ...],
                 problems: Problems, max_str: int) -> None:
    """The event's declared fields (`Event.plan`: name, numeric?, an id?) with the method's values.

    Numbers: plain finite ones are kept as they are (the hot path); anything else goes through
    `number` (numeric strings converted, NaN/inf/garbage -> null and noted); None is left out.
    """
    for (key, numeric, is_id), value in zip(plan, values):
        kind = type(value)
        if numeric:
            if kind is float:
                line[key] = value if value - value == 0.0 else number(value, key, problems)
            elif kind is int:
                line[key] = value if -_INT64 <= value < _INT64 else number(value, key, problems)
            elif value is not None:
                line[key] = number(value, key, problems)
        else:
            line[key] = clean(value, key, problems, max_str, 0, is_id)


def add_fields(line: dict[str, Any], fields: dict[str, Any], problems: Problems, max_str: int) -> None:
    """Keyword fields from the caller: head keys renamed `extra_*`, secret keys masked."""
    for key, value in fields.items():
        if type(key) is not str:
            key = str(key)
        if key in RESERVED_KEYS:
            key = f"extra_{key}"
        secret, renamed, is_id = _policy(key) or key_policy(key)
        if renamed is not None:  # the key itself carries a secret
            key = unique_key(renamed, line, len(line))
        if secret:
            line[key] = MASK
        elif type(value) is float and value - value == 0.0:
            line[key] = value
        else:
            line[key] = clean(value, key, problems, max_str, 0, is_id)


def add_context(line: dict[str, Any], problems: Problems, max_str: int) -> None:
    """Bound context (never overriding the event's own fields), then the Prefect run ids."""
    context = _bound.get()
    if context:
        for key, value in context.items():
            if key not in line:
                secret, renamed, is_id = _policy(key) or key_policy(key)
                line[key if renamed is None else unique_key(renamed, line, len(line))] = (
                    MASK if secret else clean(value, key, problems, max_str, 0, is_id))
    if "prefect" in sys.modules:
        for key, value in prefect_run_ids().items():
            line.setdefault(key, value)


def render(line: dict[str, Any]) -> bytes:
    return _dumps(line, option=_ORJSON_OPTS)


_COLORS = {"DEBUG": "\033[2m", "INFO": "\033[36m", "WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[1;31m"}
_NOT_ECHOED = RESERVED_KEYS | {"flow_run_id", "task_run_id"}


def echo(line: dict[str, Any]) -> None:
    """Human-readable console line for interactive runs (stderr, colour on a terminal)."""
    fields = " ".join(f"{k}={v}" for k, v in line.items() if k not in _NOT_ECHOED)
    level = line["level"]
    tty = sys.stderr.isatty()
    color, reset = (_COLORS.get(level, ""), "\033[0m") if tty else ("", "")
    print(f"{line['timestamp'][11:23]} {color}{level:<7}{reset} [{line['logger']}] {line['message']} {fields}",
          file=sys.stderr)
