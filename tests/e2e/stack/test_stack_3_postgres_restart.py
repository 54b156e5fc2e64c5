"""Postgres restarted under a running nightly (every connection of the Prefect server and the
MLflow server drops): the run completes, or fails with a message; nothing registered is lost."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.e2e.stack.test_stack_1_nightly import NAME, run_nightly, wait, worker_logs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _registered(stack) -> dict[str, dict]:
    client = stack.mlflow()
    return {str(v.version): {"source": v.source, "run_id": v.run_id}
            for v in client.search_model_versions(f"name='{NAME}'")}


def _training_started(stack, run_id: str) -> bool:
    for path in (stack.log_dir / "training").glob("*.log"):
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            if event.get("flow_run_id") == run_id and event["message"] == "training_step":
                return True
    return False


def test_postgres_restart_during_a_run_loses_nothing_registered(stack):
    if not _registered(stack):   # run alone: register a version first, so there is something to lose
        assert wait(stack, run_nightly(stack, params=("--param", "deploy_and_benchmark=false")))["state"]["type"] \
            == "COMPLETED"
    before = _registered(stack)
    aliases = {a: stack.mlflow().get_model_version_by_alias(NAME, a).version for a in ("candidate",)}
    runs_before = stack.sql("prefect", "SELECT count(*) FROM flow_run")[0][0]

    run_id = run_nightly(stack, "train.max_steps=30", params=("--param", "deploy_and_benchmark=false"))
    deadline = time.monotonic() + 300
    while not _training_started(stack, run_id):
        assert time.monotonic() < deadline, f"training did not start:\n{worker_logs(stack)}"
        time.sleep(0.5)
    stack.sh("restart-postgres")

    run = wait(stack, run_id)
    state = run["state"]
    assert state["type"] in ("COMPLETED", "FAILED"), state        # never stuck, never silently lost
    if state["type"] == "FAILED":
        assert state["message"], "a failure must say why"
    after = _registered(stack)
    assert {v: after.get(v) for v in before} == before, "a version registered before the restart was lost"
    assert stack.mlflow().get_model_version_by_alias(NAME, "candidate").version >= aliases["candidate"]
    if state["type"] == "COMPLETED":
        assert len(after) == len(before) + 1, "the run registered its version once"
    assert stack.sql("prefect", "SELECT count(*) FROM flow_run")[0][0] >= runs_before + 1
    assert stack.sh("status").returncode == 0    # every service healthy again
