"""A worker killed mid-run (the whole process tree, as when its machine or container dies), on a
real Prefect server with a process worker:

- with deployments/automations/crash-zombie-flow-runs.yaml in place (`python -m flows.safeguards`),
  the run is marked CRASHED once its heartbeats stop, and its GPU slot's lease runs out;
- a run that died while the automation was absent stays RUNNING (the control: without the
  automation nothing would change);
- retried as the UI's Retry does it, on a new worker, the crashed run completes.

Takes ~3 min: Prefect's shortest heartbeat is 30 s and the automation waits 3 of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import flow_run_id_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POOL = "dead-worker-test"
DEPLOYMENT = "gpu-slot-probe/dead-worker"
AUTOMATION = REPO_ROOT / "deployments" / "automations" / "crash-zombie-flow-runs.yaml"
HEARTBEAT = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}   # as the compose worker and prefect.yaml set it


def _started(record: Path, run_id: str) -> list[dict]:
    if not record.exists():
        return []
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    return [r for r in rows if r["run"] == run_id and r["event"] == "start"]


def _wait_for(predicate, timeout_s: float, what: str, server) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; worker logs:\n{server.worker_log_tail()}")


def _kill_tree(worker: subprocess.Popen) -> list[int]:
    """SIGKILL the worker and every process under it (flow runs live in their own sessions)."""
    import psutil

    tree = [worker.pid, *(p.pid for p in psutil.Process(worker.pid).children(recursive=True))]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return tree


def _state(server, run_id: str) -> str:
    return server.api("GET", f"/flow_runs/{run_id}")["state"]["type"]


def _run(server, record: Path, gate: Path) -> str:
    gate.touch()
    out = server.cli("deployment", "run", DEPLOYMENT, "--param", f"record={record}", "--param", f"gate={gate}",
                     "--param", "hold_s=0")
    return flow_run_id_of(out.stdout)


def _heartbeats_seen(server, run_id: str) -> int:
    found = server.api("POST", "/events/filter", json={"filter": {
        "event": {"name": ["prefect.flow-run.heartbeat"]}, "resource": {"id": [f"prefect.flow-run.{run_id}"]}}})
    return len(found["events"])


def test_a_dead_workers_run_is_marked_crashed_and_a_retry_completes(prefect_server, tmp_path):
    server = prefect_server
    within_s = yaml.safe_load(AUTOMATION.read_text())["trigger"]["within"]
    server.cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    server.cli("--no-prompt", "deploy", "tests/e2e/_gpu_slot_probe.py:gpu_slot_probe", "--name", "dead-worker",
               "--pool", POOL)
    server.cli("--no-prompt", "gcl", "delete", "gpu", check=False)   # whatever an earlier test left
    server.cli("gcl", "create", "gpu", "--limit", "2")
    record = tmp_path / "slots.jsonl"
    control = None
    try:
        # the control: a run whose worker dies before the automation exists
        with server.worker(POOL, env=HEARTBEAT) as worker:
            control = _run(server, record, tmp_path / "control.gate")
            _wait_for(lambda: _started(record, control), 120, "the control run to take its slot", server)
            _kill_tree(worker)
        made = subprocess.run([sys.executable, "-m", "flows.safeguards"], cwd=REPO_ROOT, env=server.env,
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        assert "automation 'crash-zombie-flow-runs': created" in made.stdout
        assert "'gpu': exists with 2 slot(s)" in made.stdout  # an operator's limit is left as it is

        # the run under test: its worker dies after the automation saw its heartbeat
        gate = tmp_path / "zombie.gate"
        with server.worker(POOL, env=HEARTBEAT) as worker:
            zombie = _run(server, record, gate)
            _wait_for(lambda: _started(record, zombie) and _heartbeats_seen(server, zombie), 120,
                      "the run to take its slot and send a heartbeat", server)
            killed = _kill_tree(worker)
        flow_pid = _started(record, zombie)[0]["pid"]
        assert flow_pid in killed
        killed_at = time.monotonic()
        assert _state(server, zombie) == "RUNNING"
        _wait_for(lambda: _state(server, zombie) == "CRASHED", within_s + 60, "the dead run to be marked CRASHED",
                  server)
        crashed_after_s = time.monotonic() - killed_at
        assert _state(server, control) == "RUNNING", "the control run died with no automation and must stay RUNNING"
        # nobody renews the dead runs' leases: the repossessor frees their slots
        _wait_for(lambda: server.api("GET", "/v2/concurrency_limits/gpu")["active_slots"] == 0, 60 + 15 + 30,
                  "the dead runs' gpu slots to be freed", server)

        # Retry, as the UI's button does it, on a new worker: the run completes
        gate.unlink()
        server.api("POST", f"/flow_runs/{zombie}/set_state", json={
            "state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"}, "force": True})
        with server.worker(POOL, env=HEARTBEAT):
            final = server.wait_for_flow_run(zombie, timeout_s=180)
        assert final["state"]["type"] == "COMPLETED", final["state"]
        assert len(_started(record, zombie)) == 2
        print(f"crashed {crashed_after_s:.0f} s after the kill (window {within_s} s)")
    finally:
        for automation in server.api("POST", "/automations/filter", json={}):
            if automation["name"] == "crash-zombie-flow-runs":
                server.api("DELETE", f"/automations/{automation['id']}")
        server.cli("--no-prompt", "gcl", "delete", "gpu", check=False)
        if control:  # left RUNNING on purpose above; not for the next test to find
            server.api("POST", f"/flow_runs/{control}/set_state",
                       json={"state": {"type": "CANCELLED", "message": "test over"}, "force": True})
