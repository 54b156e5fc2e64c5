"""deployments/prefect.yaml against a real Prefect server: deploy, check schedules, run one via a worker."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.housekeeping.conftest import write_log

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POOL = "mlops-local"
EXPECTED = {  # (flow, deployment) -> cron, as the docs state them
    ("gpu-sampling", "every-15-minutes"): "*/15 * * * *",
    ("log-retention", "daily"): "30 3 * * *",
    ("training-pipeline", "nightly"): "0 2 * * *",
}


def _deployments(server) -> dict[tuple[str, str], dict]:
    flows = {f["id"]: f["name"] for f in server.api("POST", "/flows/filter", json={})}
    return {(flows[d["flow_id"]], d["name"]): d for d in server.api("POST", "/deployments/filter", json={})}


def test_deploy_registers_scheduled_housekeeping_that_a_process_worker_runs(deployed, tmp_path):
    prefect_server = deployed
    spec = yaml.safe_load((REPO_ROOT / "deployments" / "prefect.yaml").read_text())
    timezone = spec["definitions"]["schedule_timezone"]

    found = _deployments(prefect_server)
    assert ("benchmark", "on-demand") in found and not found[("benchmark", "on-demand")]["schedules"]
    for key, cron in EXPECTED.items():
        assert key in found, f"{key} not deployed; found {sorted(found)}"
        (schedule,) = found[key]["schedules"]
        assert schedule["active"] and schedule["schedule"]["cron"] == cron
        assert schedule["schedule"]["timezone"] == timezone
        assert found[key]["work_pool_name"] == POOL
        assert not found[key]["entrypoint"].startswith("/")  # root-relative
        # heartbeats often enough for deployments/automations/crash-zombie-flow-runs.yaml
        assert found[key]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"

    # keep the 15-minute sampler from firing while the worker below is up
    sampler = found[("gpu-sampling", "every-15-minutes")]
    prefect_server.api("PATCH", f"/deployments/{sampler['id']}/schedules/{sampler['schedules'][0]['id']}",
                       json={"active": False})
    for run in prefect_server.api("POST", "/flow_runs/filter", json={
            "flow_runs": {"deployment_id": {"any_": [sampler["id"]]}}}):
        prefect_server.api("DELETE", f"/flow_runs/{run['id']}")

    log_dir = tmp_path / "logs"
    old = write_log(log_dir, "system", "old_monitor.log", age_days=8)
    backups = tmp_path / "backups"
    triggered = prefect_server.cli(
        "deployment", "run", "log-retention/daily",
        "--param", f"log_dir={log_dir}",
        "--param", "retention=" + json.dumps({"retention_days": 7, "destination": backups.as_uri()}))
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout).group(1)

    with prefect_server.worker(POOL):
        run = prefect_server.wait_for_flow_run(flow_run_id)

    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert not old.exists()
    assert len(list(backups.rglob("*.tar.gz"))) == 1
