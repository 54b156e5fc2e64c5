"""A stack worker killed mid-run (the worker and the flow run's process, as when its host or
container dies), while the run's vLLM is serving its freshly registered version:

- the run's vLLM does not outlive its owner (the owner guard stops it): no orphan vLLM;
- the run is marked CRASHED (heartbeats stop; the stack's crash-zombie-flow-runs automation);
- retried as the UI's Retry does it, the other worker completes it without registering a second
  version (the retry resumes the same MLflow run, and registration finds its version);
- `stack.sh up` brings the dead worker back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import httpx
import psutil
import pytest

from tests.conftest import vllm_processes
from tests.e2e.stack.test_stack_1_nightly import NAME, run_nightly, wait, worker_logs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _versions(stack) -> int:
    return len(stack.mlflow().search_model_versions(f"name='{NAME}'"))


def _worker_running(stack, run_id: str) -> tuple[psutil.Process, psutil.Process] | None:
    """(the worker, the flow run's process) for `run_id`, found by the run's environment."""
    for pid_file in (stack.root / "state" / "run").glob("prefect-worker-*.pid"):
        worker = psutil.Process(json.loads(pid_file.read_text())["pid"])
        for child in worker.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.environ().get("PREFECT__FLOW_RUN_ID") == run_id:
                    return worker, child
    return None


def _until(predicate, timeout_s: float, what: str, stack):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := predicate()):
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{worker_logs(stack)}")


def _serving(stack) -> bool:
    with contextlib.suppress(httpx.HTTPError):   # the gateway's /health is its vLLM's
        return httpx.get(f"http://127.0.0.1:{stack.port('GATEWAY')}/health", timeout=2).status_code == 200
    return False


def test_worker_killed_mid_run_crashed_then_retry_completes_once(stack):
    before = _versions(stack)
    run_id = run_nightly(stack, "benchmark.num_prompts=64", "benchmark.eval_max_examples=48")
    # mid-run: the version is registered and its vLLM serves it behind the gateway
    _until(lambda: _versions(stack) == before + 1 and _serving(stack), 400, "the run's vLLM to serve", stack)
    worker, flow_process = _worker_running(stack, run_id)
    doomed = [worker, *(p for p in worker.children(recursive=True) if "vllm" not in " ".join(p.cmdline())
                        and "owner_guard" not in " ".join(p.cmdline()))]
    assert flow_process in doomed
    for proc in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    psutil.wait_procs(doomed, timeout=10)

    _until(lambda: not vllm_processes(str(stack.data_dir)), 30, "the orphaned vLLM to be stopped", stack)
    assert stack.prefect.api("GET", f"/flow_runs/{run_id}")["state"]["type"] == "RUNNING"   # nobody told it yet
    crashed = _until(lambda: (r := stack.prefect.api("GET", f"/flow_runs/{run_id}"))["state"]["type"] == "CRASHED"
                     and r, 300, "the run to be marked CRASHED", stack)
    assert crashed["state"]["type"] == "CRASHED"

    # Retry, as the UI's button does it: the surviving worker picks it up
    stack.prefect.api("POST", f"/flow_runs/{run_id}/set_state", json={
        "state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"}, "force": True})
    run = wait(stack, run_id, timeout_s=600)
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], worker_logs(stack))
    assert run["run_count"] >= 2
    assert _versions(stack) == before + 1, "the retry registered a second version"
    assert not vllm_processes(str(stack.data_dir))

    assert "prefect-worker" in stack.sh("status", check=False).stdout
    stack.sh("up")                        # idempotent: restarts only the dead worker
    assert stack.sh("status").returncode == 0
