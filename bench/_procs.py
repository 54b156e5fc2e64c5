"""Helpers shared by the benchmarks: start the stub backend / gateway as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def start_stub(ttft_ms: float = 0.0, itl_ms: float = 0.0, output_tokens: int = 16,
               extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """The stub in its own process; `extra_args` are more `testkit.stub_vllm` options."""
    proc = subprocess.Popen([sys.executable, "-m", "testkit.stub_vllm", "--port", "0", "--ttft-ms",
                             str(ttft_ms), "--itl-ms", str(itl_ms), "--output-tokens", str(output_tokens),
                             *extra_args],
                            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("listening "):
        proc.kill()
        raise RuntimeError(f"stub did not start: {line!r}")
    return proc, line.split()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(backend_url: str, log_dir: Path, upstream: str | None = None) -> tuple[subprocess.Popen, str]:
    """`mlops gateway`, or (`upstream`: own/aiohttp) the same app on a chosen upstream client."""
    port = free_port()
    cmd = ["-m", "flows.cli", "gateway"] if upstream is None else ["-m", "bench._gateway_proc", "--upstream", upstream]
    proc = subprocess.Popen([sys.executable, *cmd, "--backend-url", backend_url, "--port",
                             str(port), "--log-dir", str(log_dir)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gateway did not become healthy")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
