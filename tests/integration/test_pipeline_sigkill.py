"""`mlops pipeline` killed with SIGKILL leaves nothing of its own running: not the Prefect
server it uses (Prefect's own temporary one used to outlive it and hold its port)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO_ROOT, TINY_CONFIG

pytestmark = pytest.mark.integration


def _prefect_server_port(proc: psutil.Process) -> int | None:
    """The --port of a Prefect API server among `proc`'s descendants, if one runs yet."""
    for child in proc.children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        joined = " ".join(cmd)
        if ("prefect server start" in joined or "prefect.server.api.server:create_app" in joined) and "--port" in cmd:
            return int(cmd[cmd.index("--port") + 1])
    return None


def _wait_for_server(proc: subprocess.Popen[str], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    parent = psutil.Process(proc.pid)
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mlops pipeline exited early: {proc.stdout.read() if proc.stdout else ''}"
        port = _prefect_server_port(parent)
        if port:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2, trust_env=False).status_code == 200:
                    return port
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"no Prefect server answered under mlops pipeline within {timeout_s} s")


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigkilled_pipeline_leaves_no_process_behind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(REPO_ROOT),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
    cmd = [sys.executable, "-m", "flows.cli", "pipeline", "--config", str(TINY_CONFIG), "--set", f"paths.data_dir={tmp_path / 'data'}",
           "--log-dir", str(tmp_path / "logs"), "--no-serve", "--no-backup"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree: list[psutil.Process] = []
    try:
        port = _wait_for_server(proc, timeout_s=240)
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert tree
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.5)
        left = [(p.pid, " ".join(p.cmdline())[:120]) for p in tree if _alive(p)]
        assert not left, f"still running after the pipeline was killed: {left}"
        with pytest.raises(httpx.HTTPError):  # and its port is free again
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2, trust_env=False)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in tree:  # what this test started must not outlive it, even when the test fails
            if _alive(p):
                p.kill()


@pytest.mark.slow
def test_finished_pipeline_stops_its_server_after_its_logs_reached_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(REPO_ROOT),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
    cmd = [sys.executable, "-m", "flows.cli", "pipeline", "--config", str(TINY_CONFIG), "--set", f"paths.data_dir={tmp_path / 'data'}",
           "--set", "train.max_steps=2", "--set", "eval.before_training=false", "--set", "eval.require_improvement=false",
           "--log-dir", str(tmp_path / "logs"), "--no-serve", "--no-backup"]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "starting a local Prefect server" in output
    assert "Error logging to API" not in output  # flushed before the server stopped, not at exit
    assert not [p for p in psutil.process_iter() if _prefect_home(p) == str(tmp_path / "prefect-home")]


def _prefect_home(p: psutil.Process) -> str | None:
    try:
        return p.environ().get("PREFECT_HOME")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
