"""Long-running stack services as detached process groups, each known by a pid file.

A pid file holds the pid and the process's start time, so a pid reused by an unrelated program
after a reboot is never taken for a service (nor signalled by `down`).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tasks.processes.groups import log_tail, stop_process_tree


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def log_file(log_dir: Path, service: str, name: str) -> Path:
    """logs/<service>/<name>.log: a worker replica `prefect-worker-2` writes under prefect-worker/."""
    return log_dir / service / f"{name}.log"


def running_pid(run_dir: Path, name: str) -> int | None:
    """The service's pid if the process recorded for it still runs; a stale pid file is removed."""
    import psutil

    path = pid_file(run_dir, name)
    try:
        record = json.loads(path.read_text())
        proc = psutil.Process(int(record["pid"]))
        if abs(proc.create_time() - float(record["started"])) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc.pid
    except (FileNotFoundError, ValueError, KeyError, psutil.NoSuchProcess):
        pass
    path.unlink(missing_ok=True)
    return None


def start(run_dir: Path, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> int:
    """Start `argv` in a session of its own (so `down` stops it and its children with one
    signal, and it outlives the `stack up` that started it); output appended to `log_path`."""
    import psutil

    run_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start {name}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    started = psutil.Process(proc.pid).create_time()
    pid_file(run_dir, name).write_text(json.dumps({"pid": proc.pid, "started": started, "argv0": argv[0]}))
    return proc.pid


def stop(run_dir: Path, name: str, timeout_s: float = 20.0) -> bool:
    """SIGTERM the service's process group, SIGKILL after `timeout_s`; False if it was not running."""
    pid = running_pid(run_dir, name)
    if pid is not None:
        stop_process_tree(pid, timeout_s)
    pid_file(run_dir, name).unlink(missing_ok=True)
    return pid is not None


def exited_with_log(run_dir: Path, name: str, log_path: Path) -> str | None:
    """None while the service runs; else the end of its log, for the error that says why."""
    if running_pid(run_dir, name) is not None:
        return None
    return log_tail(log_path, 30)
