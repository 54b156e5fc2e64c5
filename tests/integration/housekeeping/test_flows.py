"""The `gpu-sampling` and `log-retention` flows under a Prefect test harness."""

from __future__ import annotations

import json
import socket
import tarfile
from pathlib import Path

import pytest

from configs.retention import RetentionConfig
from configs.sampling import GPUSamplingConfig
from tests.integration.housekeeping.conftest import write_log

pytestmark = pytest.mark.integration


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_log_messages(flow_run_id) -> list[str]:
    """What the Prefect UI shows for that run (the API log handler ships in batches: flush first)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def test_gpu_sampling_flow_writes_samples_tagged_with_run_ids(prefect_harness, log_dir):
    from flows.housekeeping import gpu_sampling

    state = gpu_sampling(GPUSamplingConfig(sample_interval_s=0.2, window_s=0.5), str(log_dir), return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    assert result["samples"] == 3
    events = _events(Path(result["log_file"]))
    metrics = [e for e in events if e["message"] == "system_metrics"]
    assert len(metrics) == 3 and all("cpu_percent" in e for e in metrics)
    assert all(e["flow_run_id"] == str(state.state_details.flow_run_id) and e.get("task_run_id") for e in events)
    assert Path(result["log_file"]).parent == log_dir / "system"
    assert any("took 3 samples" in m for m in _run_log_messages(state.state_details.flow_run_id))


def test_log_retention_flow_archives_to_a_local_folder(prefect_harness, log_dir, tmp_path):
    from flows.housekeeping import log_retention

    old = write_log(log_dir, "api", "gateway_1.log", age_days=8)
    body = old.read_bytes()
    backups = tmp_path / "backups"

    state = log_retention(RetentionConfig(destination=backups.as_uri()), str(log_dir), return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    assert result["ok"] and result["deleted"] == 1 and not old.exists()
    (key,) = result["archive_keys"]
    with tarfile.open(backups / key) as tar:
        assert tar.extractfile("api/gateway_1.log").read() == body
    events = _events(next((log_dir / "system").glob("retention_*.log")))
    archived = [e for e in events if e["message"] == "retention_archived"]
    assert archived[0]["key"] == key and archived[0]["flow_run_id"] == str(state.state_details.flow_run_id)
    messages = _run_log_messages(state.state_details.flow_run_id)
    assert any("local files deleted: 1" in m for m in messages)


def test_log_retention_flow_fails_clearly_when_s3_is_down(prefect_harness, log_dir, monkeypatch):
    from flows.housekeeping import log_retention

    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    old = write_log(log_dir, "training", "run.log", age_days=9)
    config = RetentionConfig(destination="s3://bkt/logs", s3_endpoint_url=dead, retry_attempts=2, retry_backoff_s=0.01)

    state = log_retention(config, str(log_dir), return_state=True)

    assert state.is_failed()
    with pytest.raises(Exception, match="reachable"):
        state.result()
    assert old.exists()


def _no_aws_env(monkeypatch) -> None:
    """Nothing from the environment: bucket, endpoint and credentials must all come from the block."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION",
                "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_log_retention_flow_archives_to_an_s3_bucket_block(prefect_harness, log_dir, moto_endpoint, monkeypatch):
    """The backup target configured as a prefect-aws S3Bucket block (what a user edits in the Prefect UI)."""
    import uuid

    import boto3
    from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

    from flows.housekeeping import log_retention

    _no_aws_env(monkeypatch)
    bucket, name = f"blk-{uuid.uuid4().hex[:10]}", f"nightly-{uuid.uuid4().hex[:6]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    creds = AwsCredentials(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
                           aws_client_parameters=AwsClientParameters(endpoint_url=moto_endpoint))
    S3Bucket(bucket_name=bucket, bucket_folder="mlops/logs", credentials=creds).save(name)
    old = write_log(log_dir, "api", "gateway_1.log", age_days=8)
    body = old.read_bytes()

    state = log_retention(RetentionConfig(destination=f"prefect://s3-bucket/{name}", retry_attempts=2,
                                          retry_backoff_s=0.01), str(log_dir), return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    assert result["ok"] and result["deleted"] == 1 and not old.exists()
    assert result["destination"] == f"s3://{bucket}/mlops/logs"
    (key,) = result["archive_keys"]
    data = s3.get_object(Bucket=bucket, Key=f"mlops/logs/{key}")["Body"].read()
    import io

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.extractfile("api/gateway_1.log").read() == body


def test_an_unknown_s3_bucket_block_is_a_clear_error(prefect_harness, log_dir, monkeypatch):
    from configs.errors import RetentionError
    from tasks.housekeeping.retention import retention_run

    _no_aws_env(monkeypatch)
    write_log(log_dir, "api", "gateway_1.log", age_days=8)
    config = RetentionConfig(destination="prefect://s3-bucket/no-such-block")
    with pytest.raises(RetentionError, match=r"no S3Bucket block named 'no-such-block'.*Blocks -> S3 Bucket"):
        retention_run(log_dir, config, config.destination_url())
    failed = [e for p in (log_dir / "system").glob("retention_*.log") for e in _events(p)
              if e["message"] == "retention_failed"]
    assert len(failed) == 1 and "no-such-block" in failed[0]["error"]
