"""Retention to a local folder (the embedded default), the archive format, and the retry policy."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from configs.errors import RetentionError
from configs.retention import RetentionConfig
from tasks.housekeeping.archive import MANIFEST_SUFFIX, Manifest, ManifestEntry, build_archive
from tasks.housekeeping.retention import retention_run
from tasks.housekeeping.storage import DestinationUnreachable, S3Destination, is_transient
from tests.conftest import run_cli


def _old(log_dir: Path, rel: str, age_days: float = 10, lines: int = 100) -> Path:
    path = log_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(b'{"message":"step","i":%d}\n' % i for i in range(lines)))
    mtime = time.time() - age_days * 86_400
    os.utime(path, (mtime, mtime))
    return path


def _snapshot(root: Path) -> list[tuple[str, float]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime) for p in root.rglob("*")) if root.exists() else []


def test_file_destination_archive_restores_with_plain_tar_and_sha256sum(log_dir, tmp_path):
    originals = {p: p.read_bytes() for p in [_old(log_dir, "training/a.log"), _old(log_dir, "vllm/server.log")]}
    mtimes = {p: int(p.stat().st_mtime) for p in originals}
    backups = tmp_path / "backups"
    config = RetentionConfig(destination=backups.as_uri())

    report = retention_run(log_dir, config, config.destination_url())

    assert report.ok, report.summary()
    assert not any(p.exists() for p in originals)
    archives = sorted(backups.rglob("*.tar.gz"))
    assert len(archives) == 2 and all(Path(f"{a}{MANIFEST_SUFFIX}").exists() for a in archives)
    restore = tmp_path / "restore"
    restore.mkdir()
    for archive in archives:  # exactly what docs/housekeeping.md tells a user to do
        subprocess.run(["tar", "xzf", str(archive), "-C", str(restore)], check=True)
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=restore, check=True)
    for path, body in originals.items():
        restored = restore / path.relative_to(log_dir)
        assert restored.read_bytes() == body
        assert int(restored.stat().st_mtime) == mtimes[path]  # the original modification time comes back too


def test_archives_are_reproducible(log_dir, tmp_path):
    path = _old(log_dir, "api/x.log", lines=5000)
    from tasks.housekeeping.storage import sha256_file

    size, sha = sha256_file(path)
    manifest = Manifest("api", "2025-01-01", (ManifestEntry("api/x.log", size, sha, path.stat().st_mtime),))
    first = build_archive(manifest, {"api/x.log": path}, tmp_path / "1.tar.gz")
    second = build_archive(manifest, {"api/x.log": path}, tmp_path / "2.tar.gz")
    assert first == second and first[0] < size / 5  # same bytes both times, and JSON lines compress well


def test_a_file_that_changed_after_hashing_is_not_archived_as_if_unchanged(log_dir, tmp_path):
    path = _old(log_dir, "api/x.log")
    size = path.stat().st_size
    manifest = Manifest("api", "2025-01-01", (ManifestEntry("api/x.log", size, "0" * 64, path.stat().st_mtime),))
    with pytest.raises(RetentionError, match="changed while it was being archived"):
        build_archive(manifest, {"api/x.log": path}, tmp_path / "a.tar.gz")


def test_dry_run_creates_nothing_not_even_the_backup_folder(log_dir, tmp_path):
    _old(log_dir, "training/a.log")
    backups = tmp_path / "backups"
    before = _snapshot(log_dir)
    config = RetentionConfig(destination=backups.as_uri())

    report = retention_run(log_dir, config, config.destination_url(), dry_run=True)

    assert report.ok and report.deleted == ["training/a.log"]
    assert _snapshot(log_dir) == before and not backups.exists()


def test_cli_uses_the_local_default_under_the_data_dir(log_dir, tmp_path):
    _old(log_dir, "system/gpu.log")
    data = tmp_path / "data"

    done = run_cli("retention", "--log-dir", str(log_dir), env={"MLOPS_DATA_DIR": str(data)})

    assert done.returncode == 0, done.stderr
    assert (data / "backups" / "logs").as_uri() in done.stdout
    assert len(list((data / "backups" / "logs" / "system").rglob("*.tar.gz"))) == 1
    assert not (log_dir / "system" / "gpu.log").exists()


def test_cli_names_a_bad_option(log_dir):
    bad = run_cli("retention", "--log-dir", str(log_dir), "--retention-days", "-1")
    assert bad.returncode == 1 and "--retention-days" in bad.stderr and "greater than 0" in bad.stderr
    missing = run_cli("retention", "--log-dir", str(log_dir / "nope"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


# -- retry policy ---------------------------------------------------------------------------

def _client_error(status: int, code: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_only_network_and_server_side_errors_count_as_transient():
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import EndpointConnectionError

    assert is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert is_transient(_client_error(503, "SlowDown"))
    assert not is_transient(_client_error(403, "AccessDenied"))
    assert not is_transient(_client_error(404, "NoSuchBucket"))
    try:  # boto3's transfer manager wraps the real cause
        raise S3UploadFailedError("upload failed") from _client_error(500, "InternalError")
    except S3UploadFailedError as exc:
        assert is_transient(exc)


class _FlakyClient:
    def __init__(self, errors):
        self.errors, self.calls = list(errors), 0

    def head_bucket(self, Bucket):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {}


def test_transient_errors_are_retried_with_doubling_backoff_then_give_up():
    sleeps, notes = [], []
    ok = _FlakyClient([_client_error(503, "SlowDown"), _client_error(500, "InternalError")])
    S3Destination(ok, "b", retry_attempts=3, retry_backoff_s=0.5, on_retry=notes.append, sleep=sleeps.append).check()
    assert ok.calls == 3 and sleeps == [0.5, 1.0] and "retry 1/2" in notes[0]

    down = _FlakyClient([_client_error(503, "SlowDown")] * 3)
    with pytest.raises(DestinationUnreachable, match="after 3 tries"):
        S3Destination(down, "b", retry_attempts=3, retry_backoff_s=0, sleep=sleeps.append).check()


def test_permanent_errors_fail_at_once_and_say_what_to_fix():
    denied = _FlakyClient([_client_error(403, "AccessDenied")])
    with pytest.raises(RetentionError, match="credentials"):
        S3Destination(denied, "b", sleep=lambda s: pytest.fail("a 403 must not be retried")).check()
    missing = _FlakyClient([_client_error(404, "NoSuchBucket")])
    with pytest.raises(RetentionError, match="does not exist"):
        S3Destination(missing, "b").check()
    assert denied.calls == 1 and missing.calls == 1




def test_two_runs_on_one_log_dir_do_not_overlap(log_dir, tmp_path):
    from tasks.housekeeping.retention import _exclusive_run

    _old(log_dir, "training/a.log")
    config = RetentionConfig(destination=(tmp_path / "b").as_uri())
    with _exclusive_run(log_dir, dry_run=False):  # as if a scheduled run were in progress
        with pytest.raises(RetentionError, match="another retention run"):
            retention_run(log_dir, config, config.destination_url())
        assert (log_dir / "training" / "a.log").exists()
    assert retention_run(log_dir, config, config.destination_url()).ok
