"""Child processes we start in a group of their own (vLLM, the CLI's Prefect server): stop the
whole group, quote the end of its log, and guard it against the death of its owner
(owner_guard.py runs beside it as a separate process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

# child pid -> its owner_guard process, reaped when that child is stopped.
_GUARDS: dict[int, subprocess.Popen[bytes]] = {}


def log_tail(path: Path | str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            return b"".join(deque(fh, maxlen=lines)).decode("utf-8", "replace").rstrip()
    except FileNotFoundError:
        return "(no log written)"


def _spawn_guard(vllm_pid: int, stop_timeout_s: float, log_path: Path, what: str = "vLLM") -> subprocess.Popen[bytes]:
    """Start the guard for `vllm_pid` (`what` it is: vLLM, the Prefect server) as a child of
    this (the owning) process."""
    import psutil

    created = psutil.Process(vllm_pid).create_time()
    from logging_lib.sink import open_locked_append

    with open_locked_append(log_path) as log:
        # A session of its own: a Ctrl-C meant for the owner must not kill the guard first.
        return subprocess.Popen([sys.executable, "-m", "tasks.processes.owner_guard", str(vllm_pid), repr(created),
                                 repr(stop_timeout_s), str(os.getpid()), what], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                                cwd=str(Path(__file__).resolve().parents[2]))


def guard_process(pid: int, stop_timeout_s: float, log_path: Path, what: str = "vLLM") -> None:
    """Put an owner_guard beside `pid` (a process group leader started by this process), so it
    is stopped if this process dies first; `stop_process_tree(pid)` also reaps the guard."""
    _GUARDS[pid] = _spawn_guard(pid, stop_timeout_s, log_path, what)


def stop_process_tree(pid: int, timeout_s: float = 20.0) -> bool:
    """SIGTERM the process group led by `pid` (and stray descendants), SIGKILL after `timeout_s`.
    Returns False if there was nothing to stop."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = None
    if pgid is not None and pgid == pid:
        _killpg(pgid, signal.SIGTERM)
    for p in procs:
        _signal(p, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    if alive or pgid == pid:
        if pgid == pid:
            _killpg(pgid, signal.SIGKILL)
        for p in alive:
            _signal(p, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    _reap(pid)
    guard = _GUARDS.pop(pid, None)
    if guard is not None:  # it sees vLLM gone within owner_guard.POLL_S and exits
        try:
            guard.wait(timeout=5)
        except subprocess.TimeoutExpired:
            guard.kill()
            guard.wait()
    return bool(procs)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(p: Any, sig: int) -> None:
    import psutil

    try:
        p.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
