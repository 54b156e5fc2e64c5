"""The nightly on the production profile: `prefect deployment run 'training-pipeline/nightly'`
picked up by one of the stack's workers; the version lands in the MLflow server (Postgres
backend), its adapter in the S3 bucket, the gate decides, the benchmark goes through the
gateway, and the daily retention ships old logs to the S3 backup bucket."""

from __future__ import annotations

import json
import os
import time

import orjson
import pytest

from tests.conftest import vllm_processes
from tests.e2e.conftest import flow_run_id_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "tiny-chat-lora"
SMALL = ["train.max_steps=20", "train.save_steps=10", "train.eval_steps=10", "benchmark.num_prompts=8",
         "benchmark.eval_max_examples=16"]


def run_nightly(stack, *extra: str, params: tuple[str, ...] = ()) -> str:
    triggered = stack.prefect.cli("deployment", "run", "training-pipeline/nightly",
                                  "--param", "overrides=" + json.dumps([*SMALL, *extra]), *params)
    return flow_run_id_of(triggered.stdout)


def worker_logs(stack, chars: int = 6000) -> str:
    return "\n".join(p.read_text()[-chars:] for p in (stack.log_dir / "prefect-worker").glob("*.log"))


def wait(stack, run_id: str, timeout_s: float = 600) -> dict:
    try:
        return stack.prefect.wait_for_flow_run(run_id, timeout_s=timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker_logs(stack)}") from None


def jsonl(folder) -> list[dict]:
    return [orjson.loads(line) for p in sorted(folder.glob("*.log")) for line in p.read_bytes().splitlines()]


def test_stack_is_up_with_every_service_healthy(stack):
    status = stack.sh("status")
    rows = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()}
    assert rows == {"postgres": "healthy", "minio": "healthy", "prefect-server": "healthy", "mlflow": "healthy",
                    "gateway": "healthy", "prefect-worker-1": "healthy", "prefect-worker-2": "healthy",
                    "vllm": "per-run"}, status.stdout
    for service in ("postgres", "minio", "prefect-server", "mlflow", "gateway", "prefect-worker", "prefect-deploy"):
        logs = list((stack.log_dir / service).glob("*.log"))
        assert logs and all(p.stat().st_size > 0 for p in logs), f"logs/{service}/ is empty"
    # the Prefect server keeps its state in the stack's Postgres, not in SQLite
    assert stack.sql("prefect", "SELECT count(*) FROM deployment")[0][0] >= 4
    # `up` again is a no-op on a running stack
    again = stack.sh("up")
    assert "stack up in" in again.stderr


def test_nightly_through_a_worker_registers_in_remote_mlflow_with_s3_artifacts(stack):
    run_id = run_nightly(stack)
    run = wait(stack, run_id)
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], worker_logs(stack))
    assert run["parameters"]["site_overrides"][0].startswith("mlflow.tracking_uri=http://127.0.0.1:")

    client = stack.mlflow()
    version = client.get_model_version_by_alias(NAME, "candidate")
    assert str(version.version) == "1"
    # the MLflow server stores it in Postgres ...
    assert stack.sql("mlflow", "SELECT name, version FROM model_versions") == [(NAME, 1)]
    # ... and the adapter in the S3 bucket
    assert version.source.startswith("s3://mlflow/artifacts/")
    prefix = version.source.removeprefix("s3://mlflow/")
    keys = {o["Key"] for o in stack.s3().list_objects_v2(Bucket="mlflow", Prefix=prefix).get("Contents", [])}
    assert f"{prefix}/adapter_model.safetensors" in keys and f"{prefix}/adapter_config.json" in keys
    # promotion decided and recorded on the version
    assert version.tags["gate_passed"] in ("True", "False") and version.tags["gate_mode"] == "absolute"
    assert (str(client.get_model_version_by_alias(NAME, "champion").version) == "1") == (
        version.tags["gate_passed"] == "True")
    # the run's vLLM (on the stack's vllm port) is gone with the run
    assert not vllm_processes(str(stack.data_dir))
    # the benchmark went through the gateway, which logged each request once
    from tests.e2e.stack.test_stack_2_ui_benchmark import server_side_once

    (result_file,) = stack.data_dir.glob(f"benchmarks/*_{NAME}-v1/result.json")
    result = json.loads(result_file.read_text())
    assert result["completed"] == 8 and result["base_url"].endswith(f":{stack.port('GATEWAY')}")
    server_side_once(stack, [r["request_id"] for r in result["requests"]])
    # typed logs went to the stack's log folder, with the run's id
    steps = jsonl(stack.log_dir / "training")
    assert any(e["message"] == "training_step" and e.get("flow_run_id") == run_id for e in steps)


def test_daily_retention_ships_old_logs_to_the_s3_backup_bucket(stack):
    old = time.time() - 10 * 86400
    aged = sorted((stack.log_dir / "training").glob("*.log"))
    assert aged, "the nightly wrote no training log"
    for path in aged:
        os.utime(path, (old, old))
    triggered = stack.prefect.cli("deployment", "run", "log-retention/daily")
    run = wait(stack, flow_run_id_of(triggered.stdout), timeout_s=180)
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], worker_logs(stack))
    keys = [o["Key"] for o in stack.s3().list_objects_v2(Bucket="mlops-backups").get("Contents", [])]
    assert any(k.startswith("logs/") for k in keys), keys
    assert not any(p.exists() for p in aged), "archived logs are deleted locally once verified in S3"
