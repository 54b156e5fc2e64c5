"""Housekeeping fixtures: a real S3 endpoint over HTTP (moto's server) and one Prefect test harness."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def write_log(log_dir: Path, log_type: str, name: str, *, age_days: float, lines: int = 200) -> Path:
    """A finished log file last modified `age_days` before today's noon UTC, with distinct JSON lines."""
    folder = log_dir / log_type
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"".join(b'{"timestamp":"2025-01-01T00:00:00.000Z","level":"INFO","message":"x","i":%d,'
                              b'"src":"%s"}\n' % (i, name.encode()) for i in range(lines)))
    noon_today = (time.time() // 86_400) * 86_400 + 43_200  # noon UTC: ages never straddle midnight
    mtime = min(noon_today, time.time()) - age_days * 86_400
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS variables, pointing boto3 (and subprocesses) at the moto server."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": moto_endpoint}
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_client(aws_env: dict[str, str]):
    import boto3

    return boto3.client("s3")


@pytest.fixture
def bucket(s3_client) -> str:
    name = f"logs-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
