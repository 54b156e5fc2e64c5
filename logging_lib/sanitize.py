"""Turning arbitrary values into JSON-safe ones; a log call never raises on bad input.

The rules (documented in README, "What a log line holds"):
- NaN and +/-inf become `null`, and the event gets `nonfinite_fields: ["path", ...]`
  naming where they were, so a diverged loss is still visible.
- A value that should be a number but is not (e.g. the string "abc" for `loss`) becomes
  `null` and its field is listed in `invalid_fields`; numeric strings are converted.
- Strings longer than `max_str_chars` are cut and end in `...[truncated N chars]`.
- Objects JSON cannot hold are logged as their `repr()` (also cut); datetimes as ISO-8601,
  paths as strings, bytes decoded as UTF-8 with replacement, sets as lists, exceptions as
  `Type: message`, numpy/torch scalars as their Python number.
- Nesting deeper than `MAX_DEPTH` becomes the string "<max depth>"; containers keep at most
  `MAX_ITEMS` items (the rest are summarised as one "<N more items>" entry).
- Secrets are masked (see the redaction package).
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from pathlib import PurePath
from typing import Any

from logging_lib.redaction import MASK, key_policy, redact_text, unique_key

MAX_DEPTH = 16
MAX_ITEMS = 1000
DEFAULT_MAX_STR_CHARS = 16_384
_INT64 = 2**63


class Problems:
    """Collects where non-finite and invalid values were found while sanitising one event."""

    __slots__ = ("nonfinite", "invalid")

    def __init__(self) -> None:
        self.nonfinite: list[str] | None = None
        self.invalid: list[str] | None = None

    def add_nonfinite(self, path: str) -> None:
        (self.nonfinite if self.nonfinite is not None else self._new("nonfinite")).append(path)

    def add_invalid(self, path: str) -> None:
        (self.invalid if self.invalid is not None else self._new("invalid")).append(path)

    def _new(self, kind: str) -> list[str]:
        setattr(self, kind, [])
        return getattr(self, kind)

    def apply(self, event: dict[str, Any]) -> None:
        if self.nonfinite:
            event["nonfinite_fields"] = self.nonfinite
        if self.invalid:
            event["invalid_fields"] = self.invalid


def number(value: Any, path: str, problems: Problems) -> int | float | None:
    """A typed numeric field: a finite JSON number, or null with the reason recorded."""
    kind = type(value)
    if kind is int:
        return value if -_INT64 <= value < _INT64 else float(value)
    if kind is float:
        if value - value == 0.0:  # false only for nan and +/-inf
            return value
        problems.add_nonfinite(path)
        return None
    if value is None:
        return None
    if kind is bool:
        return int(value)
    if isinstance(value, (int, float)):
        return number(float(value) if isinstance(value, float) else int(value), path, problems)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if item is not None:
        try:
            return number(item(), path, problems)
        except (TypeError, ValueError, RuntimeError):
            pass
    if isinstance(value, (str, bytes)):
        try:
            return number(float(value), path, problems)
        except ValueError:
            pass
    problems.add_invalid(path)
    return None


def clean(value: Any, path: str, problems: Problems, max_str: int = DEFAULT_MAX_STR_CHARS, depth: int = 0,
          is_id: bool = False) -> Any:
    """Any value -> JSON-safe value with secrets masked (`is_id`: the value of an `*_id` key)."""
    kind = type(value)
    if kind is str:
        return _redact_cut(value, max_str, is_id)
    if kind is int or kind is float or kind is bool or value is None:
        return number(value, path, problems) if kind is not bool and value is not None else value
    if depth >= MAX_DEPTH:
        return "<max depth>"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["<truncated>"] = f"<{len(value) - MAX_ITEMS} more items>"
                break
            key = k if type(k) is str else str(k)
            secret, renamed, is_id = key_policy(key)
            value_out = MASK if secret else clean(v, f"{path}.{key}", problems, max_str, depth + 1, is_id)
            out[key if renamed is None else unique_key(renamed, out, i)] = value_out
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value)
        out_list = [clean(v, f"{path}[{i}]", problems, max_str, depth + 1) for i, v in enumerate(seq[:MAX_ITEMS])]
        if len(seq) > MAX_ITEMS:
            out_list.append(f"<{len(seq) - MAX_ITEMS} more items>")
        return out_list
    if isinstance(value, str):  # str subclasses
        return _redact_cut(str(value), max_str)
    if isinstance(value, (int, float)):
        return number(value, path, problems)
    if isinstance(value, BaseException):
        return _redact_cut(format_exception_message(value), max_str)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return clean(value.value, path, problems, max_str, depth + 1)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _redact_cut(bytes(value).decode("utf-8", "replace"), max_str)
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        try:
            return clean(item(), path, problems, max_str, depth + 1)
        except (TypeError, ValueError, RuntimeError):
            pass
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break logging
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return _redact_cut(text, max_str)


def format_exception_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# Redaction looks this far past the cut, so a secret straddling it is still recognised whole.
_REDACT_MARGIN = 8192


def _redact_cut(text: str, max_str: int, is_id: bool = False) -> str:
    """Redact, then cut; a huge string is cut (with margin) first so redaction stays bounded."""
    if len(text) <= max_str:
        return redact_text(text, ids=is_id)
    dropped = len(text) - max_str
    text = redact_text(text[: max_str + _REDACT_MARGIN], ids=is_id)
    return f"{text[:max_str]}...[truncated {dropped} chars]"


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
