"""Retention against a real S3 endpoint over HTTP (moto's server): archive, verify, delete, restore."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import time
from pathlib import Path

import pytest

from configs.errors import RetentionError
from configs.retention import RetentionConfig
from logging_lib import TrainingLogger
from tasks.housekeeping import retention as retention_mod
from tasks.housekeeping.archive import MANIFEST_SUFFIX
from tasks.housekeeping.retention import retention_run, run_retention
from tasks.housekeeping.storage import DestinationUnreachable, open_destination
from tests.conftest import run_cli
from tests.integration.housekeeping.conftest import write_log

pytestmark = pytest.mark.integration

FAST = {"retry_attempts": 2, "retry_backoff_s": 0.01, "connect_timeout_s": 1.0}


def _old_logs(log_dir: Path) -> dict[str, bytes]:
    """Seven old files over two log types and two days, plus a recent one; returns name -> bytes of the old."""
    paths = [write_log(log_dir, "training", f"run_a_{i}.log", age_days=10 + i * 0.001) for i in range(3)]
    paths += [write_log(log_dir, "training", "run_b.log", age_days=12)]
    paths += [write_log(log_dir, "inference", f"gw_{i}.log", age_days=9, lines=500) for i in range(3)]
    write_log(log_dir, "training", "recent.log", age_days=1)
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in paths}


def _objects(s3_client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _restore_all(s3_client, bucket: str, into: Path) -> dict[str, bytes]:
    """Download and unpack every archive the way docs/housekeeping.md says; check SHA256SUMS too."""
    restored: dict[str, bytes] = {}
    for key in _objects(s3_client, bucket):
        if not key.endswith(".tar.gz"):
            continue
        data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        target = into / key.replace("/", "_")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(target, filter="data")
        for line in (target / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split("  ", 1)
            body = (target / name).read_bytes()
            assert hashlib.sha256(body).hexdigest() == digest
            assert name not in restored, f"{name} is in two archives"
            restored[name] = body
    return restored


def test_old_logs_are_archived_verified_deleted_and_restore_byte_identical(log_dir, bucket, s3_client, tmp_path):
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination=f"s3://{bucket}/prod/logs", **FAST)

    report = retention_run(log_dir, config, config.destination_url())

    assert report.ok, report.summary()
    assert sorted(report.deleted) == sorted(originals)
    assert not any((log_dir / name).exists() for name in originals)
    assert (log_dir / "training" / "recent.log").exists()
    keys = _objects(s3_client, bucket)
    archives = [k for k in keys if k.endswith(".tar.gz")]
    # one archive per (log type, day) under a dated key, each with its manifest beside it
    assert len(archives) == 3
    assert all(k.startswith("prod/logs/") and k + MANIFEST_SUFFIX in keys for k in archives)
    manifest = json.loads(s3_client.get_object(Bucket=bucket, Key=archives[0] + MANIFEST_SUFFIX)["Body"].read())
    assert {"name", "size_bytes", "sha256"} <= set(manifest["files"][0])
    assert _restore_all(s3_client, bucket, tmp_path / "restore") == originals


def test_current_file_of_a_live_logger_is_never_touched(log_dir, bucket, s3_client):
    logger = TrainingLogger("live", str(log_dir))
    logger.log_step(epoch=1, step=1, loss=1.0, learning_rate=1e-4)
    current = Path(logger.path)
    old = time.time() - 30 * 86_400
    os.utime(current, (old, old))  # old by its date, yet still held open by a writer
    write_log(log_dir, "training", "finished.log", age_days=30)
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)
    try:
        report = retention_run(log_dir, config, config.destination_url())
        logger.log_step(epoch=1, step=2, loss=0.9, learning_rate=1e-4)
    finally:
        logger.close()

    assert report.ok, report.summary()
    assert report.deleted == ["training/finished.log"]
    assert f"training/{current.name}" in {s.name for s in report.skipped}
    assert len(current.read_text().splitlines()) == 2  # still there, and the writer kept appending


def test_the_generic_aws_endpoint_variable_is_honoured_too(log_dir, bucket, s3_client, moto_endpoint, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    write_log(log_dir, "vllm", "server.log", age_days=8)
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)

    assert retention_run(log_dir, config, config.destination_url()).ok
    assert len([k for k in _objects(s3_client, bucket) if k.startswith("logs/vllm/")]) == 2


def test_s3_down_fails_clearly_and_deletes_nothing(log_dir, aws_env):
    originals = _old_logs(log_dir)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = RetentionConfig(destination="s3://logs-bucket/x", s3_endpoint_url=dead, **FAST)

    with pytest.raises(RetentionError, match=r"failed after 2 tries.*reachable"):
        retention_run(log_dir, config, config.destination_url())

    assert {n: (log_dir / n).read_bytes() for n in originals} == originals


class _CountingDestination:
    """The real S3 destination, counting uploads and optionally failing at one chosen step."""

    def __init__(self, inner, fail_upload_after_bytes: int | None = None, corrupt: bool = False) -> None:
        self.inner, self.url, self.uploads = inner, inner.url, []
        self.fail_upload_after_bytes, self.corrupt = fail_upload_after_bytes, corrupt

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upload(self, path: Path, key: str) -> None:
        if self.fail_upload_after_bytes is not None:  # the connection drops mid-upload: a truncated object
            self.inner.put_bytes(path.read_bytes()[: self.fail_upload_after_bytes], key)
            raise DestinationUnreachable(f"uploading {key}: connection reset (injected)")
        self.uploads.append(key)
        if self.corrupt:  # the store silently mangles one byte
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            self.inner.put_bytes(bytes(data), key)
            return
        self.inner.upload(path, key)


def _dest(bucket: str, **kw) -> _CountingDestination:
    return _CountingDestination(open_destination(f"s3://{bucket}/logs", **FAST), **kw)


def test_rerun_after_crash_between_upload_and_delete_uploads_exactly_once(log_dir, bucket, s3_client, tmp_path,
                                                                          monkeypatch):
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)
    first = _dest(bucket)

    def crash(*_a, **_k):
        raise KeyboardInterrupt("killed after the upload was verified, before any delete")

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(retention_mod, "_delete_local", crash)
        run_retention(log_dir, config, first)
    assert len(first.uploads) == 1 and all((log_dir / n).exists() for n in originals)

    # meanwhile one more file ages past the retention age, into the day already archived
    late = write_log(log_dir, "training", "run_b_late.log", age_days=12.001)
    originals[f"training/{late.name}"] = late.read_bytes()
    second = _dest(bucket)
    report = run_retention(log_dir, config, second)

    assert report.ok, report.summary()
    assert "already_uploaded" in {a.status for a in report.archives}
    assert first.uploads[0] not in second.uploads  # not uploaded again
    assert not any((log_dir / n).exists() for n in originals)
    assert _restore_all(s3_client, bucket, tmp_path / "restore") == originals  # each file in exactly one archive

    third = _dest(bucket)
    assert run_retention(log_dir, config, third).archives == [] and third.uploads == []


def test_rerun_after_upload_dropped_midway_resumes_the_same_archive(log_dir, bucket, s3_client, tmp_path):
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)

    report = run_retention(log_dir, config, _dest(bucket, fail_upload_after_bytes=100))

    assert not report.ok and "connection reset" in report.summary()
    assert report.deleted == [] and all((log_dir / n).exists() for n in originals)
    truncated = [k for k in _objects(s3_client, bucket) if k.endswith(".tar.gz")]
    assert len(truncated) == 1

    second = _dest(bucket)
    report = run_retention(log_dir, config, second)

    assert report.ok, report.summary()
    assert truncated[0].removeprefix("logs/") in second.uploads  # same key, re-uploaded in full
    assert "resumed" in {a.status for a in report.archives}
    assert len([k for k in _objects(s3_client, bucket) if k.endswith(".tar.gz")]) == 3
    assert _restore_all(s3_client, bucket, tmp_path / "restore") == originals


def test_upload_that_does_not_read_back_identical_deletes_nothing(log_dir, bucket):
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)

    report = run_retention(log_dir, config, _dest(bucket, corrupt=True))

    assert not report.ok and len(report.errors) == 3
    assert all("verification of" in e and "nothing was deleted" in e for e in report.errors)
    assert report.deleted == [] and {n: (log_dir / n).read_bytes() for n in originals} == originals


def test_dry_run_changes_nothing_here_or_in_s3(log_dir, bucket, s3_client):
    originals = _old_logs(log_dir)
    before = sorted((p.relative_to(log_dir), p.stat().st_mtime) for p in log_dir.rglob("*"))
    config = RetentionConfig(destination=f"s3://{bucket}/logs", **FAST)
    lines: list[str] = []

    report = retention_run(log_dir, config, config.destination_url(), dry_run=True, progress=lines.append)

    assert report.ok and sorted(report.deleted) == sorted(originals)
    assert {a.status for a in report.archives} == {"would_upload"}
    assert any("would archive 3 files" in line for line in lines)
    assert sorted((p.relative_to(log_dir), p.stat().st_mtime) for p in log_dir.rglob("*")) == before
    assert _objects(s3_client, bucket) == []


def test_prunes_backups_older_than_configured(log_dir, bucket, s3_client):
    write_log(log_dir, "training", "ancient.log", age_days=40)
    write_log(log_dir, "training", "old.log", age_days=10)
    retention_run(log_dir, RetentionConfig(destination=f"s3://{bucket}/logs", **FAST), f"s3://{bucket}/logs")
    assert len(_objects(s3_client, bucket)) == 4

    config = RetentionConfig(destination=f"s3://{bucket}/logs", keep_backups_days=30, **FAST)
    report = retention_run(log_dir, config, config.destination_url())

    assert report.ok and len(report.pruned) == 2
    left = _objects(s3_client, bucket)
    assert len(left) == 2 and all(time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86_400)) in k for k in left)


def test_cli_exit_codes_progress_and_summary(log_dir, bucket, aws_env, s3_client):
    originals = _old_logs(log_dir)
    args = ("retention", "--log-dir", str(log_dir), "--destination", f"s3://{bucket}/cli")

    dry = run_cli(*args, "--dry-run", env=aws_env)
    assert dry.returncode == 0, dry.stderr
    assert "would archive" in dry.stdout and "retention (dry run)" in dry.stdout
    assert all((log_dir / n).exists() for n in originals) and _objects(s3_client, bucket) == []

    done = run_cli(*args, env=aws_env)
    assert done.returncode == 0, done.stderr
    assert "uploaded 3 files" in done.stdout and "local files deleted: 7" in done.stdout
    assert not any((log_dir / n).exists() for n in originals)

    write_log(log_dir, "training", "another.log", age_days=8)
    down = run_cli(*args, "--retention-days", "7", env={**aws_env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"})
    assert down.returncode == 1
    assert "error:" in down.stderr and "reachable" in down.stderr and "Traceback" not in down.stderr
    assert (log_dir / "training" / "another.log").exists()

    bad = run_cli("retention", "--log-dir", str(log_dir), "--destination", "ftp://host/x", env=aws_env)
    assert bad.returncode == 1 and "s3://BUCKET/PREFIX, prefect://s3-bucket/BLOCK_NAME or file:///ABSOLUTE/PATH" in bad.stderr


def _system_files(log_dir: Path) -> list[Path]:
    return sorted((log_dir / "system").glob("retention_*.log")) if (log_dir / "system").is_dir() else []


def _failures(log_dir: Path) -> list[dict]:
    from logging_lib.schemas import validate_file

    events = []
    for path in _system_files(log_dir):
        assert path.stat().st_size > 0, f"{path.name} was left empty"
        assert validate_file(path).ok, validate_file(path).errors
        events += [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["message"] == "retention_failed"]


def test_a_stopped_s3_server_is_logged_as_a_failure_and_leaves_no_empty_file(log_dir, aws_env, s3_client):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="gone")
    server.stop()  # the bucket existed; now nothing answers at that endpoint
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination="s3://gone/logs", s3_endpoint_url=endpoint, **FAST)

    for _ in range(2):  # each failed run says so; none leaves an empty file behind
        with pytest.raises(DestinationUnreachable):
            retention_run(log_dir, config, config.destination_url())

    failures = _failures(log_dir)
    assert len(failures) == 2
    assert all(f["level"] == "ERROR" and f["destination"] == "s3://gone/logs" and endpoint in f["error"]
               and "reachable" in f["error"] for f in failures)
    assert {n: (log_dir / n).read_bytes() for n in originals} == originals


def test_an_unwritable_backup_folder_is_logged_as_a_failure_and_leaves_no_empty_file(log_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder's parent should be\n")  # unwritable even for root
    originals = _old_logs(log_dir)
    config = RetentionConfig(destination=(blocker / "backups").as_uri())

    for _ in range(2):
        with pytest.raises(RetentionError, match="cannot create the backup folder"):
            retention_run(log_dir, config, config.destination_url())

    failures = _failures(log_dir)
    assert len(failures) == 2 and all("cannot create the backup folder" in f["error"] for f in failures)
    assert {n: (log_dir / n).read_bytes() for n in originals} == originals
