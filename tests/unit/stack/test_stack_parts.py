"""The stack's parts that need no server: settings and generated secrets, pid files, port
errors, and the CLI's answers on a machine where nothing runs."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys

import pytest

from configs.errors import StackError
from configs.stack import GENERATED
from tasks.stack import procs
from tasks.stack.lifecycle import _check_port
from tasks.stack.secrets import ensure_secrets, read_env_file
from tests.conftest import run_cli


def test_secrets_are_generated_once_private_and_not_over_the_environment(tmp_path) -> None:
    path = ensure_secrets(tmp_path, {"POSTGRES_PASSWORD": "given"})
    first = read_env_file(path)
    assert set(first) == set(GENERATED) - {"POSTGRES_PASSWORD"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(len(v) >= 32 for v in first.values())
    ensure_secrets(tmp_path, {})                       # later: only what is still missing is added
    second = read_env_file(path)
    assert {k: second[k] for k in first} == first and "POSTGRES_PASSWORD" in second


def test_a_pid_file_names_its_process_and_nothing_else(tmp_path) -> None:
    pid = procs.start(tmp_path / "run", "svc", [sys.executable, "-c", "import time; time.sleep(60)"],
                      dict(os.environ), tmp_path / "logs" / "svc" / "svc.log", tmp_path)
    assert procs.running_pid(tmp_path / "run", "svc") == pid
    assert os.getpgid(pid) == pid                      # its own group: down stops its children too
    record = json.loads(procs.pid_file(tmp_path / "run", "svc").read_text())
    procs.pid_file(tmp_path / "run", "other").write_text(json.dumps({**record, "started": record["started"] - 100}))
    assert procs.running_pid(tmp_path / "run", "other") is None     # a reused pid is not ours
    assert not procs.pid_file(tmp_path / "run", "other").exists()
    assert procs.stop(tmp_path / "run", "svc") and procs.running_pid(tmp_path / "run", "svc") is None
    assert not procs.stop(tmp_path / "run", "svc")


def test_a_taken_port_names_the_variable_that_moves_it(free_port) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", free_port))
        other.listen()
        with pytest.raises(StackError, match=f"port {free_port} for mlflow is taken.*MLOPS_STACK_MLFLOW_PORT"):
            _check_port("mlflow", free_port)


def _env(tmp_path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "POSTGRES_", "AWS_"))}
    return {**base, "MLOPS_STACK_STATE_DIR": str(tmp_path / "state"), "MLOPS_LOG_DIR": str(tmp_path / "logs"), **extra}


def test_status_of_a_stack_that_is_not_up(tmp_path) -> None:
    proc = run_cli("stack", "status", env=_env(tmp_path))
    assert proc.returncode == 1
    states = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()}
    assert states["postgres"] == states["prefect-server"] == states["prefect-worker-2"] == "stopped"
    assert states["vllm"] == "per-run"


def test_a_bad_setting_is_named_without_a_traceback(tmp_path) -> None:
    proc = run_cli("stack", "status", env=_env(tmp_path, POSTGRES_PASSWORD="p@ss:word"))
    assert proc.returncode == 1 and "POSTGRES_PASSWORD" in proc.stderr and "URL-safe" in proc.stderr
    assert "Traceback" not in proc.stderr and "p@ss:word" not in proc.stderr
    proc = run_cli("stack", "status", env=_env(tmp_path, MLOPS_STACK_WORKERS="0"))
    assert proc.returncode == 1 and "MLOPS_STACK_WORKERS" in proc.stderr


def test_env_prints_what_a_shell_needs(tmp_path) -> None:
    proc = run_cli("stack", "env", env=_env(tmp_path, MLOPS_STACK_PREFECT_PORT="14999"))
    assert proc.returncode == 0
    lines = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())
    assert lines["PREFECT_API_URL"] == "http://127.0.0.1:14999/api"
    assert {"MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "MLOPS_GATEWAY_API_KEY"} <= set(lines)
