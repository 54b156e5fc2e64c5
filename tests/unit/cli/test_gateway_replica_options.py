"""`mlops gateway --name/--max-connections`: what each replica behind a load balancer sets."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import REPO_ROOT


def test_a_named_replica_logs_under_its_own_name(tmp_path, free_port) -> None:
    from testkit.stub_vllm import StubServer

    stub = StubServer(model="m", output_tokens=2).start_in_thread()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "gateway", "--backend-url", stub.base_url,
                             "--port", str(free_port), "--name", "gateway-2", "--max-connections", "4",
                             "--log-dir", str(tmp_path)], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{free_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/metrics", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.2)
        r = httpx.post(f"{url}/v1/completions", json={"model": "m", "prompt": "hi", "max_tokens": 2}, timeout=30)
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        stub.stop_thread()
    assert [p.name.split("_")[0] for p in (tmp_path / "api").glob("*.log")] == ["gateway-2"]
    assert [p.name.split("_")[0] for p in (tmp_path / "inference").glob("*.log")] == ["gateway-2"]


def test_max_connections_must_be_positive(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "gateway", "--backend-url", "http://127.0.0.1:9",
                           "--max-connections", "0", "--log-dir", str(tmp_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "max_connections" in proc.stderr and "Traceback" not in proc.stderr
