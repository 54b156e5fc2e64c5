"""A local Prefect API for one `mlops pipeline` run, which dies with that run.

Without $PREFECT_API_URL, Prefect starts a temporary server of its own and stops it at exit;
a pipeline killed with SIGKILL (or by the OOM killer) never reaches that exit, and the server
keeps running and holds its port. So the CLI starts the server itself, in a process group of
its own, and puts the same owner guard beside it that guards vLLM (tasks.serving.owner_guard):
when the pipeline process is gone, the guard stops the server's whole group.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from configs.errors import PipelineError


@contextmanager
def guarded_local_server(log_path: Path, startup_timeout_s: float = 120.0,
                         stop_timeout_s: float = 10.0) -> Iterator[str]:
    """Start `prefect server start` on a free loopback port (its output in `log_path`), wait
    until it answers, use it as this process's Prefect API, and stop it afterwards; yields the
    API URL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.processes.groups import guard_process, log_tail, stop_process_tree

    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                                 str(port), "--no-ui", "--analytics-off"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        guard_process(proc.pid, stop_timeout_s, log_path, what="the Prefect server")
        _wait_healthy(api_url, proc, startup_timeout_s, log_path, log_tail)
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            try:
                yield api_url
            finally:
                _drain_prefect_workers()
    finally:
        stop_process_tree(proc.pid, stop_timeout_s)


def _drain_prefect_workers(timeout_s: float = 10.0) -> None:
    """Send the flow-run logs and events still queued while the server is up (they would
    otherwise be sent at interpreter exit, to a server already stopped)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout_s)
    EventsWorker.drain_all(timeout=timeout_s)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], timeout_s: float, log_path: Path, log_tail) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            if proc.poll() is not None:
                raise PipelineError(f"the local Prefect server exited with code {proc.returncode} during start-up; "
                                    f"{log_path} ends with:\n{log_tail(log_path)}")
            try:
                if client.get(f"{api_url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise PipelineError(f"the local Prefect server did not answer {api_url}/health within {timeout_s:g} s; "
                                    f"{log_path} ends with:\n{log_tail(log_path)}")
            time.sleep(0.25)
