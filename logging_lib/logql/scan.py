"""Reading log files: the one place that turns file bytes into (file, time, line) for a query.

Both ways of running a pipeline (the staged stages in pipeline.py and the fused extractor in
fused.py) read through `scan`, so which lines a query sees and at what time is decided once.

Time of a line: the writer puts the timestamp at fixed offsets (logging_lib/line_layout.py),
so a line with that head is timed without a JSON parse, the calendar sum done once per second.
Any other line is parsed as JSON for its `timestamp` field. A line whose timestamp cannot be
read (not JSON, no `timestamp`, a malformed second or millisecond field) takes the time of the
line before it, as Alloy would stamp it at ingestion, about when it was written; the first line
of a file takes the file's creation (or last write) time. The millisecond field must be three
ASCII digits: `int()` would also take "-12", "+12", " 12" or "1_2", which no writer emits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

from logging_lib import line_layout as L
from logging_lib.logql import ast as A
from logging_lib.logql.source import LogFile, overlaps, parse_ts

_LOADS = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_VLLM_LEVEL = re.compile(rb"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
_MILLIS = {b"%03d" % i: i for i in range(1000)}  # exactly three ASCII digits, nothing int() also takes


def file_selected(f: LogFile, matchers: tuple[A.Matcher, ...]) -> bool:
    """The file's stream labels match the selector (`level` is per line, checked later)."""
    return all(m.matches(f.labels.get(m.name, "")) for m in matchers if m.name != "level")


def scan(files: list[LogFile], selector: tuple[A.Matcher, ...], needles: list[bytes], after_ms: int,
         until_ms: int) -> Iterator[tuple[LogFile, int, bytes]]:
    """(file, ts, line) for each line with after_ms < ts <= until_ms that contains every needle,
    file by file in the given order."""
    for f in files:
        if file_selected(f, selector) and overlaps(f, after_ms, until_ms):
            yield from _file_lines(f, needles, after_ms, until_ms)


def _file_lines(f: LogFile, needles: list[bytes], after_ms: int, until_ms: int) -> Iterator[tuple[LogFile, int, bytes]]:
    """scan for one file; lines keep their newline (the staged pipeline strips it, the fused one
    needs not). Needles first (a substring test costs far less than any parse); then the time, read
    inline at the layout's offsets: this loop runs once per line of every query, and a line of the
    same second as the one before costs one 34-byte comparison and a dict lookup."""
    first, rest = (needles[0], needles[1:]) if needles else (b"", [])
    prefix, dot, closing, millis = L.TIMESTAMP_PREFIX, b".", L.TIMESTAMP_END, _MILLIS.get
    second_at, dot_at, ms_at, ms_end, closing_at = L.TS_START, L.SECOND_END, L.MS_START, L.MS_END, L.TS_END + 1
    last_ms = f.created_ms if f.created_ms is not None else f.mtime_ms
    head, head_ms = b"-", 0  # the last fixed head ('{"timestamp":"2026-11-26T08:15:22.') seen, and its time
    with open(f.path, "rb") as fh:
        for raw in fh:
            if first not in raw or (rest and not all(n in raw for n in rest)):
                continue
            fixed = raw[ms_end:closing_at] == closing
            if fixed and raw[:ms_at] == head:
                ms = millis(raw[ms_at:ms_end])
                ts = last_ms if ms is None else head_ms + ms
            elif fixed and raw[dot_at:ms_at] == dot and raw.startswith(prefix):  # L.has_fixed_head, a new second
                t = parse_ts(raw[second_at:dot_at] + b".000Z")
                if t is not None:
                    head, head_ms = raw[:ms_at], t
                ms = millis(raw[ms_at:ms_end])
                ts = last_ms if t is None or ms is None else t + ms
            else:
                t = _json_ts(raw)
                ts = last_ms if t is None else t
            last_ms = ts
            if after_ms < ts <= until_ms:
                yield f, ts, raw


def _json_ts(raw: bytes) -> int | None:
    """The `timestamp` field of a line in any other layout (other key order, other writers)."""
    try:
        obj = _LOADS(raw)
    except _JSONDecodeError:
        return None
    if type(obj) is dict and type(obj.get("timestamp")) is str:
        return parse_ts(obj["timestamp"].encode())
    return None


def line_level(raw: bytes, is_vllm: bool) -> str | None:
    """The `level` Alloy attaches: read at its fixed offset, else from the JSON, else vLLM's text prefix."""
    if L.has_fixed_head(raw) and raw[L.LEVEL_KEY_AT] == L.LEVEL_KEY:
        end = raw.find(b'"', L.LEVEL_START)
        value = raw[L.LEVEL_START:end]
        if end > 0 and b"\\" not in value:  # an escaped quote: let the JSON parser read it
            return value.decode() or None
    try:
        obj = _LOADS(raw)
    except _JSONDecodeError:
        obj = None
    if type(obj) is dict:
        level = obj.get("level")
        return level if type(level) is str and level else None
    if is_vllm:  # Alloy's stage.regex for vLLM's text log
        m = _VLLM_LEVEL.match(raw)
        return m.group(1).decode() if m else None
    return None
