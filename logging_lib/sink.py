"""Append-only JSON-line files, shared per (directory, name) inside a process.

Write-through: each line goes to the OS in one `write(2)` on an `O_APPEND` fd before the
log call returns, so a SIGKILL loses at most the line being written, and writers in other
threads or processes never interleave inside a line. Files are never copy-truncated:
rollover opens a new timestamped file. While a file is current, its writer holds a shared
`flock`; `is_file_in_use` tells retention not to touch it.

Writers that are not ours (vLLM writing its stdout into the file we hand it) take no lock, so
`why_in_use` also looks in `/proc/<pid>/fd` for any process holding the file open. Where there is
no `/proc` (macOS, BSD) only the lock tells; every writer of ours takes it (`open_locked_append`).
The scan sees only processes this user may inspect: run retention as the writers' user or root.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import os
import stat
import sys
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

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
_registry_lock = threading.Lock()
_owner = 0  # the thread inside _locked_registry(), if any
_deferred: list[FileSink] = []


@contextlib.contextmanager
def _locked_registry() -> Iterator[None]:
    """The registry lock, plus the releases deferred while it was held.

    A logger dropped without close() is released by its weakref finalizer, and the garbage
    collector may run that finalizer on any allocation, including one made while this very
    thread holds the lock in acquire_sink: waiting for the lock there would deadlock, so such a
    release is queued and done here, before the lock is let go.
    """
    global _owner
    with _registry_lock:
        _owner = threading.get_ident()
        try:
            yield
            while _deferred:
                _release_locked(_deferred.pop())
        finally:
            _owner = 0


def acquire_sink(directory: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> FileSink:
    """The process-wide sink for this file family; creating a logger twice reuses it."""
    key = (str(directory), name)
    with _locked_registry():
        sink = _registry.get(key)
        if sink is None or sink._fd < 0:
            sink = _registry[key] = FileSink(directory, name, max_bytes)
        sink._refs += 1
        return sink


def release_sink(sink: FileSink) -> None:
    if _owner == threading.get_ident():  # a finalizer run by the GC inside _locked_registry()
        _deferred.append(sink)
        return
    with _locked_registry():
        _release_locked(sink)


def _release_locked(sink: FileSink) -> None:
    sink._refs -= 1
    if sink._refs <= 0:
        sink.close()
        key = (str(sink.directory), sink.name)
        if _registry.get(key) is sink:
            del _registry[key]


def _after_fork_in_child() -> None:
    global _registry_lock, _owner
    _registry_lock = threading.Lock()
    _owner = 0
    for sink in _registry.values():
        sink._reinit_after_fork()


def _close_all() -> None:
    for sink in list(_registry.values()):
        sink.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)


LOCKED_BY_WRITER = "in use by a live logger"


def open_locked_append(path: str | os.PathLike[str]) -> BinaryIO:
    """Open `path` for appending with a shared flock held for as long as the file stays open.

    Hand the file to a child process (`Popen(stdout=...)`) and the lock lives on in the child: a
    flock belongs to the open file description, which the child inherits. If retention deleted
    the file while we waited for the lock, open again: a line is never written to a deleted file.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    while True:
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while retention is deleting this very file
            st, now = os.fstat(fd), os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return os.fdopen(fd, "ab", buffering=0)
        os.close(fd)


FileId = tuple[int, int]  # (st_dev, st_ino)


def open_file_holders(skip_fds: Collection[int] = ()) -> dict[FileId, tuple[int, str]] | None:
    """Every regular file some process holds open -> (pid, command) of one holder.

    None where `/proc/self/fd` does not exist (not Linux): then only the flock can tell.
    `skip_fds` are this process's own probe descriptors.
    """
    if not os.path.isdir("/proc/self/fd"):
        return None
    me = os.getpid()
    held: dict[FileId, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # exited, or not ours to inspect
            continue
        for fd in fds:
            if pid == me and int(fd) in skip_fds:
                continue
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                held.setdefault((st.st_dev, st.st_ino), (pid, ""))
    return {key: (pid, _command(pid)) for key, (pid, _) in held.items()}


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def _held_reason(holder: tuple[int, str]) -> str:
    return f"held open by pid {holder[0]} ({holder[1]}) without a lock"


def why_in_use(path: str | os.PathLike[str], holders: dict[FileId, tuple[int, str]] | None = None) -> str | None:
    """Why `path` must not be deleted now (a writer's flock, or a process holding it open), or None.

    `holders` is a snapshot from `open_file_holders()` to reuse across many files; without it
    /proc is scanned for this one file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return LOCKED_BY_WRITER
        st = os.fstat(fd)
        if holders is None:
            holders = open_file_holders(skip_fds=(fd,))
    finally:
        os.close(fd)
    holder = holders.get((st.st_dev, st.st_ino)) if holders else None
    return _held_reason(holder) if holder else None


@contextlib.contextmanager
def claim_for_deletion(paths: Sequence[Path]) -> Iterator[dict[Path, str]]:
    """Hold an exclusive flock on each of `paths` while the caller deletes them.

    Yields {path: why it must be kept} for files locked by a writer or held open by any process
    (one /proc scan for all of them); delete only the others, inside the `with`. A writer of ours
    that opens one meanwhile waits for the lock, then sees the file gone and creates a new one.
    """
    fds: dict[Path, int] = {}
    busy: dict[Path, str] = {}
    try:
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                busy[path] = LOCKED_BY_WRITER
                continue
            fds[path] = fd
        holders = open_file_holders(skip_fds=set(fds.values())) if fds else None
        for path, fd in fds.items():
            st = os.fstat(fd)
            holder = holders.get((st.st_dev, st.st_ino)) if holders else None
            if holder:
                busy[path] = _held_reason(holder)
        yield busy
    finally:
        for fd in fds.values():
            os.close(fd)


def is_file_in_use(path: str | os.PathLike[str]) -> bool:
    """True while some process writes to `path`: a logger's shared flock, or (Linux) any open descriptor."""
    return why_in_use(path) is not None
