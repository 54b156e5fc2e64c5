"""Log files seen as Loki streams: the labels our Alloy config attaches, and line timestamps.

Alloy (deployments/observability/alloy/config.alloy) tails `<log_dir>/<job>/*.log` for the five
jobs below and attaches job=<folder>, service="mlops", host=<hostname>, filename=<path>, plus
`level` taken from each JSON line. The line's own `timestamp` field becomes the entry time.
"""

from __future__ import annotations

import calendar
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

JOBS = ("training", "inference", "system", "api", "vllm")
SERVICE = "mlops"
STREAM_LABELS = ("job", "service", "host", "filename", "level")

_STAMP = re.compile(r"_(\d{8})_(\d{6})(?:_\d+)?\.log$")


@dataclass(frozen=True)
class LogFile:
    path: Path
    labels: dict[str, str]  # job, service, host, filename (level comes per line)
    created_ms: int | None  # from the name's UTC stamp, when it has one
    mtime_ms: int


def default_host() -> str:
    return os.environ.get("MLOPS_LOG_HOST") or socket.gethostname()


def discover(log_dir: Path, host: str | None = None) -> list[LogFile]:
    """Every `<log_dir>/<job>/*.log` the Alloy config would tail, sorted by path."""
    host = host or default_host()
    files: list[LogFile] = []
    for job in JOBS:
        folder = log_dir / job
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.log")):
            try:
                st = path.stat()
            except FileNotFoundError:  # rotated away between glob and stat
                continue
            m = _STAMP.search(path.name)
            created = None
            if m:
                d, t = m.group(1), m.group(2)
                created = calendar.timegm((int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]),
                                           int(t[4:]), 0, 0, 0)) * 1000
            mtime_ms = int(st.st_mtime * 1000)
            if created is not None and created > mtime_ms + 1000:
                created = None  # not a UTC stamp (a file cannot be created after its last write)
            files.append(LogFile(path, {"job": job, "service": SERVICE, "host": host,
                                        "filename": str(path)}, created, mtime_ms))
    return files


def overlaps(f: LogFile, after_ms: int, until_ms: int) -> bool:
    """Can the file hold lines with after_ms < ts <= until_ms? (names carry creation, mtime the last write)."""
    if f.mtime_ms + 1000 <= after_ms:  # +1 s: mtime and line stamps come from different clocks' roundings
        return False
    if f.created_ms is not None and f.created_ms - 1000 > until_ms:
        return False
    return True


_minute_cache: dict[bytes, int] = {}


def parse_ts(text: bytes) -> int | None:
    """'2026-11-26T08:15:22.633Z' (our loggers' format, or RFC 3339 with Z) -> epoch ms."""
    if len(text) < 20 or text[4:5] != b"-" or text[10:11] not in (b"T", b" ") or text[-1:] not in (b"Z", b"z"):
        return None
    if not (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]).isdigit():
        return None  # int() would take " 5", "+5" or "1_2"; a writer's stamp has digits only
    minute = text[:16]
    base = _minute_cache.get(minute)
    try:
        if base is None:
            base = calendar.timegm((int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                    int(text[14:16]), 0, 0, 0, 0)) * 1000
            if len(_minute_cache) > 100_000:
                _minute_cache.clear()
            _minute_cache[minute] = base
        ms = int(text[17:19]) * 1000
        if len(text) > 21 and text[19:20] == b".":
            frac = text[20:-1]
            if not frac.isdigit():
                return None
            ms += int((frac + b"000")[:3])
        return base + ms
    except ValueError:
        return None
