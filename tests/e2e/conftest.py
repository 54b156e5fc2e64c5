"""A real `prefect server start` for the whole session, plus helpers to drive it like a user.

    def test_x(prefect_server):
        prefect_server.cli("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        with prefect_server.worker("mlops-local"):
            ...

The server lives in its own PREFECT_HOME (SQLite there) on a free loopback port and in its
own process group, so teardown stops it and its children with one signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PREFECT = [sys.executable, "-m", "prefect"]


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `prefect ARGS` against this server from the repository root."""
        proc = subprocess.run([*PREFECT, *args], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"prefect {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def api(self, method: str, path: str, **kwargs):
        """One REST call. 503/429 are retried with backoff, as Prefect's own client does: the
        server answers 503 for retryable errors such as SQLite's "database is locked" while its
        scheduler writes runs (seen once in CI, right after `deploy`)."""
        import httpx

        for attempt in range(8):
            response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
            if response.status_code not in (429, 503) or attempt == 7:
                break
            time.sleep(float(response.headers.get("retry-after") or min(0.25 * 2 ** attempt, 4.0)))
        response.raise_for_status()
        return response.json() if response.content else None

    @contextlib.contextmanager
    def worker(self, pool: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
        """A process worker polling every second; stopped (its whole process group) on exit."""
        log = (self.home / f"worker-{pool}.log").open("a")
        proc = subprocess.Popen([*PREFECT, "worker", "start", "--pool", pool, *extra], cwd=REPO_ROOT,
                                env={**self.env, "PREFECT_WORKER_QUERY_SECONDS": "1", **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            yield proc
        finally:
            _stop_group(proc)
            log.close()

    def worker_log_tail(self, chars: int = 6000) -> str:
        return "\n".join(p.read_text()[-chars:] for p in self.home.glob("worker-*.log"))

    def wait_for_flow_run(self, flow_run_id: str, timeout_s: float = 120) -> dict:
        """Poll until the run reaches a final state; return it (worker log attached on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.api("GET", f"/flow_runs/{flow_run_id}")
            if run["state"] and run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return run
            time.sleep(0.5)
        logs = "\n".join(p.read_text()[-4000:] for p in self.home.glob("worker-*.log"))
        raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout_s} s; worker log:\n{logs}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = {**base, "PREFECT_HOME": str(home), "PREFECT_API_URL": api_url, "PYTHONPATH": str(REPO_ROOT),
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (home / "server.log").open("w")
    # The UI in the browser must call this server's API, not the default port's.
    server_env = {**{k: v for k, v in env.items() if k != "PREFECT_API_URL"}, "PREFECT_UI_API_URL": api_url}
    proc = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], cwd=home,
                            env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = PrefectServer(api_url, home, env)
    try:
        _wait_healthy(server, proc, timeout_s=90)
        yield server
    finally:
        _stop_group(proc)
        log.close()


def _wait_healthy(server: PrefectServer, proc: subprocess.Popen, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited {proc.returncode}:\n{(server.home / 'server.log').read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {timeout_s} s:\n{(server.home / 'server.log').read_text()[-4000:]}")



POOL = "mlops-local"


@pytest.fixture(scope="session")
def deployed(prefect_server: PrefectServer) -> PrefectServer:
    """deployments/prefect.yaml deployed (as a user does it) onto the session's server."""
    prefect_server.cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    prefect_server.cli("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    return prefect_server


def flow_run_id_of(cli_output: str) -> str:
    """The run id `prefect deployment run` prints."""
    import re

    match = re.search(r"UUID: ([0-9a-f-]{36})", cli_output)
    if match is None:
        raise AssertionError(f"no flow run id in: {cli_output}")
    return match.group(1)


@pytest.fixture
def browser_page(request):
    """A headless Chromium page (tests/e2e/_ui.py)."""
    from tests.e2e._ui import chromium_page

    with chromium_page(request) as page:
        yield page
