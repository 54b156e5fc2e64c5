"""Append-only JSON-line files, shared per (directory, name) inside a process.

Write-through: each line goes to the OS in one `write(2)` on an `O_APPEND` fd before the
log call returns, so a SIGKILL loses at most the line being written, and writers in other
threads or processes never interleave inside a line. Files are never copy-truncated:
rollover opens a new timestamped file. While a file is current, its writer holds a shared
`flock`; `is_file_in_use` tells retention not to touch it.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import sys
import threading
from pathlib import Path

from logging_lib.paths import new_log_file

DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class FileSink:
    """One current file per (directory, name); rolls over past `max_bytes`."""

    def __init__(self, directory: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.directory = directory
        self.name = name
        self.max_bytes = max_bytes
        self.dropped_lines = 0
        self._lock = threading.Lock()
        self._refs = 0
        self._fd = -1
        self._size = 0
        self.path: Path | None = None
        self._open_new()

    def _open_new(self) -> None:
        fd, path = new_log_file(self.directory, self.name)
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        old = self._fd
        self._fd, self.path, self._size = fd, path, 0
        if old >= 0:
            os.close(old)

    def write(self, line: bytes) -> None:
        with self._lock:
            if self._fd < 0:
                self.dropped_lines += 1
                return
            try:
                written = os.write(self._fd, line)
                if written != len(line):  # only on a full disk or a signal: finish the line
                    view = memoryview(line)[written:]
                    while view:
                        view = view[os.write(self._fd, view):]
            except OSError as exc:
                self._report_write_error(exc)
                return
            self._size += len(line)
            if self._size >= self.max_bytes:
                try:
                    self._open_new()
                except OSError as exc:
                    self._report_write_error(exc)

    def _report_write_error(self, exc: OSError) -> None:
        # A full disk must not crash training; say so once on stderr and count the loss.
        self.dropped_lines += 1
        if self.dropped_lines == 1 or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            print(f"logging_lib: cannot write {self.path}: {exc}; lines are being dropped", file=sys.stderr)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _reinit_after_fork(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here.
        self._lock = threading.Lock()


_registry: dict[tuple[str, str], FileSink] = {}
# Re-entrant: a logger dropped without close() is released by its weakref.finalize, which the
# garbage collector may run inside any allocation, including one made while this thread holds
# the lock in acquire_sink (a plain Lock deadlocked there).
_registry_lock = threading.RLock()


def acquire_sink(directory: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> FileSink:
    """The process-wide sink for this file family; creating a logger twice reuses it."""
    key = (str(directory), name)
    with _registry_lock:
        sink = _registry.get(key)
        if sink is None or sink._fd < 0:
            sink = _registry[key] = FileSink(directory, name, max_bytes)
        sink._refs += 1
        return sink


def release_sink(sink: FileSink) -> None:
    with _registry_lock:
        sink._refs -= 1
        if sink._refs <= 0:
            sink.close()
            key = (str(sink.directory), sink.name)
            if _registry.get(key) is sink:
                del _registry[key]


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.RLock()
    for sink in _registry.values():
        sink._reinit_after_fork()


def _close_all() -> None:
    for sink in list(_registry.values()):
        sink.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)


def is_file_in_use(path: str | os.PathLike[str]) -> bool:
    """True while some process's logger still writes to `path` (holds its shared flock)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
