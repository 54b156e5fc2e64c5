"""The production profile, started as a user starts it: `scripts/stack.sh up` (private Postgres,
Prefect server on it, MLflow server on Postgres with S3 artifacts, moto's S3 server, gateway,
two process workers), on free ports, for this package's tests; `scripts/stack.sh down` at the end.

Its state lives in a folder under /tmp that the `postgres` user can reach (pytest's own
temporary folders are closed to other users), removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasks.stack.lifecycle import port_in_use as _bound
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import PrefectServer

PORTS = ("POSTGRES", "PREFECT", "MLFLOW", "S3", "VLLM", "GATEWAY")


@dataclass
class Stack:
    root: Path                 # state/, logs/, configs/ (a copy of tiny.yaml: its data/ lands here too)
    env: dict[str, str]        # what `scripts/stack.sh` was run with
    client: dict[str, str]     # `scripts/stack.sh env`: what a user's shell gets
    prefect: PrefectServer

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "configs" / "tiny.yaml"

    def port(self, name: str) -> int:
        return int(self.env[f"MLOPS_STACK_{name}_PORT"])

    def sh(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", "scripts/stack.sh", *args], cwd=REPO_ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"stack.sh {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def mlflow(self):
        from tasks.registry.versions import client_for

        return client_for(self.client["MLFLOW_TRACKING_URI"])

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.client["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                            aws_access_key_id=self.client["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.client["AWS_SECRET_ACCESS_KEY"])

    def sql(self, database: str, query: str) -> list[tuple]:
        """A query on the stack's Postgres, as its owner."""
        import psycopg2

        password = dict(line.split("=", 1) for line in (self.root / "state" / "stack.env").read_text().split())
        conn = psycopg2.connect(host="127.0.0.1", port=self.port("POSTGRES"), dbname=database, user="mlops",
                                password=password["POSTGRES_PASSWORD"], connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()
        finally:
            conn.close()


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (port := _free_port()) not in ports:
            ports.append(port)
    return ports


def _free_port() -> int:
    """A free port below the ephemeral range: the stack holds its ports for the whole session
    (vLLM's is bound only during runs), and a port from bind(0) may meanwhile become the local
    end of some outgoing connection."""
    import random

    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    while True:
        port = random.randrange(20000, min(low, 32768))
        if not _bound(port):
            return port


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="mlops-stack-"))
    root.chmod(0o755)
    (root / "configs").mkdir()
    shutil.copy(REPO_ROOT / "configs" / "tiny.yaml", root / "configs" / "tiny.yaml")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_", "MLFLOW_", "AWS_"))}
    env = {**base, "MLOPS_STACK_STATE_DIR": str(root / "state"), "MLOPS_LOG_DIR": str(root / "logs"),
           "MLOPS_PIPELINE_CONFIG": str(root / "configs" / "tiny.yaml"),
           "MLOPS_MODEL_REF": "models:/tiny-chat-lora@champion", "PREFECT_WORKER_QUERY_SECONDS": "1",
           **{f"MLOPS_STACK_{name}_PORT": str(port) for name, port in zip(PORTS, _free_ports(len(PORTS)))}}
    stack = Stack(root, env, {}, None)  # type: ignore[arg-type]
    try:
        up = stack.sh("up")
        assert "stack up in" in up.stderr, up.stderr
        stack.client = dict(line.removeprefix("export ").split("=", 1) for line in stack.sh("env").stdout.splitlines())
        stack.client = {k: v.strip("'") for k, v in stack.client.items()}
        prefect_env = {**base, **stack.client, "PYTHONPATH": str(REPO_ROOT)}
        stack.prefect = PrefectServer(stack.client["PREFECT_API_URL"], root / "state", prefect_env)
        yield stack
    finally:
        down = stack.sh("down", check=False, timeout=300)
        left = _leftovers(stack)
        shutil.rmtree(root, ignore_errors=True)
    # `down` stops every service cleanly and leaves nothing behind (checked after the tests ran)
    assert down.returncode == 0, down.stderr
    assert left == [], f"still there after `stack.sh down`: {left}"


def _leftovers(stack: Stack) -> list[str]:
    import psutil

    left = [f"pid file {p.name}" for p in (stack.root / "state" / "run").glob("*.pid")]
    left += [f"port {stack.port(n)} ({n})" for n in PORTS if _bound(stack.port(n))]
    for proc in psutil.process_iter(["cmdline"]):
        if str(stack.root) in " ".join(proc.info["cmdline"] or []):
            left.append(f"process {proc.pid}: {' '.join(proc.info['cmdline'])[:120]}")
    return left

