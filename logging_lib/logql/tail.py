"""`mlops logs tail`: the last lines of the log files, merged by time, and following new ones.

Following is rotation-safe the same way Alloy is: the folders are re-listed every poll, a new
file is read from its start, a known file from where we stopped, a shrunken one from 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from logging_lib.logql.source import JOBS

_COLOURS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[32m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m",
            "CRITICAL": "\x1b[1;31m"}
_SKIP = ("timestamp", "level", "message", "logger", "log_type")


def tail_files(log_dir: Path, types: tuple[str, ...] | None = None) -> list[Path]:
    out: list[Path] = []
    for job in types or JOBS:
        folder = log_dir / job
        if folder.is_dir():
            out.extend(sorted(folder.glob("*.log")))
    return out


def last_lines(path: Path, n: int, block: int = 65536) -> list[bytes]:
    """The last n complete lines of a file, reading backwards in blocks (bounded memory)."""
    if n <= 0:
        return []
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        end = size
        data = b""
        while end > 0 and data.count(b"\n") <= n:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # a torn last line: its writer is still writing it
    return [ln for ln in lines[-n:] if ln.strip()]


def _ts_key(line: bytes) -> bytes:
    return line[14:38] if line.startswith(b'{"timestamp":"') else b""


def initial_lines(log_dir: Path, types: tuple[str, ...] | None, n: int) -> list[tuple[str, bytes]]:
    picked: list[tuple[bytes, str, bytes]] = []
    for path in tail_files(log_dir, types):
        for line in last_lines(path, n):
            picked.append((_ts_key(line), path.parent.name, line))
    picked.sort(key=lambda t: t[0])
    return [(job, line) for _k, job, line in picked[-n:]]


def follow(log_dir: Path, types: tuple[str, ...] | None, *, poll_s: float = 0.5,
           stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[str, bytes]]:
    """New complete lines as they are written, from files existing now (their ends) or created later."""
    offsets: dict[Path, int] = {}
    partial: dict[Path, bytes] = {}
    for path in tail_files(log_dir, types):
        try:
            offsets[path] = path.stat().st_size
        except FileNotFoundError:
            pass
    while not stop():
        for path in tail_files(log_dir, types):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            pos = offsets.get(path, 0)
            if size < pos:  # truncated or replaced: start over
                pos = 0
                partial.pop(path, None)
            if size == pos:
                offsets[path] = pos
                continue
            with open(path, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read(size - pos)
            offsets[path] = pos + len(chunk)
            data = partial.pop(path, b"") + chunk
            *complete, rest = data.split(b"\n")
            if rest:
                partial[path] = rest
            for line in complete:
                if line.strip():
                    yield path.parent.name, line
        for gone in [p for p in offsets if not p.exists()]:
            offsets.pop(gone, None)
            partial.pop(gone, None)
        time.sleep(poll_s)


def pretty(job: str, line: bytes, colour: bool) -> str:
    """`08:15:22.633 INFO    [inference/demo_gateway] inference_response latency_ms=345.5 ...`"""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return f"{'':12} {'':7} [{job}] {line.decode('utf-8', 'replace')}"
    if not isinstance(obj, dict):
        return f"{'':12} {'':7} [{job}] {line.decode('utf-8', 'replace')}"
    ts = str(obj.get("timestamp", ""))[11:23]
    level = str(obj.get("level", ""))
    fields = " ".join(f"{k}={_short(v)}" for k, v in obj.items() if k not in _SKIP and v is not None)
    lvl = f"{level:<7}"
    if colour:
        lvl = f"{_COLOURS.get(level, '')}{lvl}\x1b[0m"
        fields = f"\x1b[2m{fields}\x1b[0m" if fields else fields
    return f"{ts:12} {lvl} [{job}/{obj.get('logger', '?')}] {obj.get('message', '')} {fields}".rstrip()


def _short(v: object) -> str:
    text = v if isinstance(v, str) else orjson.dumps(v).decode()
    if isinstance(v, str) and (" " in v or not v):
        text = orjson.dumps(v).decode()
    return text if len(text) <= 120 else text[:117] + "..."
