"""Which log files retention may archive: the read-only planning half of `mlops retention`.

A file is a candidate when it sits directly in `<log_dir>/<log_type>/`, ends in `.log`, was last
modified before `now - retention_days`, and nothing holds it: neither a writer's shared flock
nor (Linux) an open descriptor in any process (`logging_lib.sink.why_in_use`). Candidates are grouped per log type and
per UTC day of their modification time; each group becomes one archive. Planning only looks:
it never opens a file for writing, so it is safe to run at any time (and is what --dry-run shows).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from logging_lib.sink import LOCKED_BY_WRITER, open_file_holders, why_in_use

SECONDS_PER_DAY = 86_400.0
SKIP_IN_USE = LOCKED_BY_WRITER
SKIP_RECENT = "modified within the retention window"


@dataclass(frozen=True)
class LogFile:
    path: Path
    name: str  # relative to the log dir, with '/': "training/run_20251220_120000.log"
    log_type: str
    size_bytes: int
    mtime: float

    @property
    def day(self) -> str:
        """UTC day of the last modification, `YYYY-MM-DD`: the date an archive is filed under."""
        return time.strftime("%Y-%m-%d", time.gmtime(self.mtime))


InUse = Callable[[Path], str | bool | None]  # why a file is in use (or just True), falsy when free


def in_use_reason(in_use: InUse, path: Path) -> str | None:
    why = in_use(path)
    if not why:
        return None
    return why if isinstance(why, str) else SKIP_IN_USE


def in_use_now() -> InUse:
    """A checker over one /proc snapshot taken now (one scan for many files, not one per file)."""
    holders = open_file_holders()
    return lambda path: why_in_use(path, holders)


@dataclass(frozen=True)
class SkippedFile:
    name: str
    reason: str


@dataclass(frozen=True)
class ArchiveGroup:
    """Files of one log type last modified on one UTC day: one archive."""

    log_type: str
    day: str
    files: tuple[LogFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class RetentionPlan:
    log_dir: Path
    cutoff: float  # epoch seconds; files modified before this are old enough
    groups: tuple[ArchiveGroup, ...]
    skipped: tuple[SkippedFile, ...] = ()
    absent_types: tuple[str, ...] = ()  # log types with no folder (nothing to do)
    scanned: dict[str, int] = field(default_factory=dict)  # log type -> .log files seen

    @property
    def files(self) -> tuple[LogFile, ...]:
        return tuple(f for g in self.groups for f in g.files)


def plan_retention(
    log_dir: str | os.PathLike[str],
    log_types: Iterable[str],
    retention_days: float,
    *,
    now: float | None = None,
    in_use: InUse | None = None,
) -> RetentionPlan:
    """List what retention would archive, grouped by (log type, UTC day), oldest day first."""
    if not retention_days or retention_days <= 0:
        raise ValueError(f"retention_days must be > 0, got {retention_days!r}")
    root = Path(log_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"log dir {root} does not exist; pass --log-dir or set $MLOPS_LOG_DIR")
    cutoff = (time.time() if now is None else now) - retention_days * SECONDS_PER_DAY
    in_use = in_use_now() if in_use is None else in_use
    groups: dict[tuple[str, str], list[LogFile]] = {}
    skipped: list[SkippedFile] = []
    absent: list[str] = []
    scanned: dict[str, int] = {}
    for log_type in log_types:
        folder = root / log_type
        if not folder.is_dir():
            absent.append(log_type)
            continue
        seen = 0
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.name.endswith(".log"):
                continue
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks, sockets, folders: not ours to archive
            seen += 1
            name = f"{log_type}/{entry.name}"
            if st.st_mtime >= cutoff:
                skipped.append(SkippedFile(name, SKIP_RECENT))
                continue
            path = Path(entry.path)
            why = in_use_reason(in_use, path)
            if why:
                skipped.append(SkippedFile(name, why))
                continue
            f = LogFile(path=path, name=name, log_type=log_type, size_bytes=st.st_size, mtime=st.st_mtime)
            groups.setdefault((log_type, f.day), []).append(f)
        scanned[log_type] = seen
    ordered = tuple(ArchiveGroup(t, d, tuple(fs)) for (t, d), fs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])))
    return RetentionPlan(log_dir=root, cutoff=cutoff, groups=ordered, skipped=tuple(skipped),
                         absent_types=tuple(absent), scanned=scanned)
