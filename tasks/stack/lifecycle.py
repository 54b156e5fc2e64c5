"""`stack up | down | status`: start the services in compose's order, each health-checked
before the next needs it; stop them in reverse; say what runs where.

`up` is idempotent (a running, healthy service is left alone) and `down` leaves no process
and no bound port behind; data (Postgres, stack.env) stays unless `down --volumes`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from configs.errors import StackError
from configs.stack import REPO_ROOT, StackSettings
from tasks.stack import postgres, procs
from tasks.stack.services import NOT_STARTED, POOL, PYTHON, STANDS_IN, Service, deploy_env, plan

Echo = Callable[[str], None]
PORT_VARIABLES = {"postgres": "MLOPS_STACK_POSTGRES_PORT", "minio": "MLOPS_STACK_S3_PORT",
                  "prefect-server": "MLOPS_STACK_PREFECT_PORT", "mlflow": "MLOPS_STACK_MLFLOW_PORT",
                  "gateway": "MLOPS_STACK_GATEWAY_PORT", "vllm": "MLOPS_STACK_VLLM_PORT"}


def run_dir(s: StackSettings) -> Path:
    return s.mlops_stack_state_dir / "run"


def _log(s: StackSettings, svc: Service) -> Path:
    return procs.log_file(s.mlops_log_dir, svc.service, svc.name)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _check_port(name: str, port: int | None) -> None:
    if port is not None and port_in_use(port):
        raise StackError(f"port {port} for {name} is taken by another program: stop it, or move {name} with "
                         f"{PORT_VARIABLES.get(name, 'its MLOPS_STACK_*_PORT variable')}")


def _healthy(svc: Service, s: StackSettings) -> bool:
    import httpx

    try:
        if svc.health_url:
            return httpx.get(svc.health_url, timeout=3).status_code == 200
        if svc.service == "prefect-worker":
            return svc.name in _online_workers(s)
    except httpx.HTTPError:
        return False
    return True


def _online_workers(s: StackSettings) -> set[str]:
    import httpx

    resp = httpx.post(f"{s.prefect_api_url}/work_pools/{POOL}/workers/filter", json={}, timeout=5)
    return {w["name"] for w in resp.json() if w.get("status") == "ONLINE"} if resp.status_code == 200 else set()


def _wait(svc: Service, s: StackSettings, started: float) -> None:
    deadline = started + s.mlops_stack_start_timeout_s
    while time.monotonic() < deadline:
        if _healthy(svc, s):
            return
        died = procs.exited_with_log(run_dir(s), svc.name, _log(s, svc))
        if died is not None:
            raise StackError(f"{svc.name} exited during start-up; the end of {_log(s, svc)}:\n{died}")
        time.sleep(0.5)
    raise StackError(f"{svc.name} not healthy after {s.mlops_stack_start_timeout_s:.0f} s "
                     f"({svc.health_url or 'worker not ONLINE in pool ' + POOL}); see {_log(s, svc)}")


def _start_all(batch: list[Service], s: StackSettings, echo: Echo) -> None:
    """Start a batch that does not depend on itself at once, then wait for each to be healthy."""
    t0 = time.monotonic()
    for svc in batch:
        if procs.running_pid(run_dir(s), svc.name) is not None:
            continue
        _check_port(svc.service, svc.port)
        procs.start(run_dir(s), svc.name, svc.argv, svc.env, _log(s, svc), REPO_ROOT)
    for svc in batch:
        _wait(svc, s, t0)
        echo(f"  {svc.name:<18} healthy  {svc.health_url or ''}  (log: {_log(s, svc)})")


def up(s: StackSettings, echo: Echo = print) -> None:
    t0 = time.monotonic()
    services = {svc.name: svc for svc in plan(s)}
    echo(f"==> postgres (port {s.mlops_stack_postgres_port}, data {postgres.data_dir(s)})")
    if postgres.initialise(s):
        echo("  initialised a new cluster")
    if not postgres.is_running(s):
        _check_port("postgres", s.mlops_stack_postgres_port)
        postgres.start(s)
    created = postgres.ensure_databases(s)
    echo(f"  postgres           healthy  databases prefect, mlflow{' (created)' if created else ''}")
    if "minio" in services:
        echo(f"==> minio: {STANDS_IN['minio']}")
        _start_all([services["minio"]], s, echo)
    ensure_buckets(s)
    echo(f"  minio-buckets      done     s3://{s.mlflow_bucket}, s3://{s.mlops_backup_bucket} at {s.s3_endpoint}")
    echo("==> prefect-server, mlflow, gateway (first start migrates the databases: up to a minute)")
    _start_all([services[n] for n in ("prefect-server", "mlflow", "gateway")], s, echo)
    echo("==> prefect-deploy: work pool, deployments (deployments/register-stack.sh)")
    register(s)
    workers = [svc for svc in services.values() if svc.service == "prefect-worker"]
    echo(f"==> {len(workers)} prefect workers on pool {POOL}")
    _start_all(workers, s, echo)
    echo(f"stack up in {time.monotonic() - t0:.0f} s: Prefect UI {s.prefect_api_url[:-4]}, MLflow {s.mlflow_url}, "
         f"gateway {s.gateway_url}/v1 (vLLM per run on :{s.mlops_stack_vllm_port}); `scripts/stack.sh env` for a shell")


def ensure_buckets(s: StackSettings) -> None:
    """compose's `minio-buckets` one-shot: the MLflow artifact and log backup buckets."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("s3", endpoint_url=s.s3_endpoint, region_name=s.aws_default_region,
                          aws_access_key_id=s.aws_access_key_id.get_secret_value(),
                          aws_secret_access_key=s.aws_secret_access_key.get_secret_value())
    try:
        have = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in (s.mlflow_bucket, s.mlops_backup_bucket):
            if bucket not in have:
                client.create_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as exc:
        raise StackError(f"S3 at {s.s3_endpoint}: cannot list/create the buckets {s.mlflow_bucket}, "
                         f"{s.mlops_backup_bucket}: {exc}") from exc


def register(s: StackSettings) -> None:
    """compose's `prefect-deploy` one-shot, with this profile's URLs."""
    env = deploy_env(s)
    env["PATH"] = f"{Path(PYTHON).parent}:{env.get('PATH', '')}"
    log = s.mlops_log_dir / "prefect-deploy" / "prefect-deploy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.run(["sh", "deployments/register-stack.sh"], cwd=REPO_ROOT, env=env, stdout=fh,
                              stderr=subprocess.STDOUT, timeout=600)
    if proc.returncode != 0:
        from tasks.processes.groups import log_tail

        raise StackError(f"prefect-deploy (deployments/register-stack.sh) exited {proc.returncode}; the end of "
                         f"{log}:\n{log_tail(log, 30)}")


def down(s: StackSettings, volumes: bool = False, echo: Echo = print) -> None:
    """Workers first (their runs end with them), then the servers, Postgres last."""
    for svc in reversed(plan(s)):
        if procs.stop(run_dir(s), svc.name):
            echo(f"  stopped {svc.name}")
    if postgres.data_dir(s).exists() and postgres.is_running(s):
        postgres.stop(s)
        echo("  stopped postgres")
    left = [f"{name} :{port}" for name, port in _ports(s) if port_in_use(port)]
    if left:
        raise StackError(f"after down, ports are still bound: {', '.join(left)} (another program, or a service "
                         "that did not stop: see logs/<service>/)")
    if volumes:
        shutil.rmtree(s.mlops_stack_state_dir, ignore_errors=True)
        echo(f"  removed {s.mlops_stack_state_dir} (Postgres data, stack.env)")


def _ports(s: StackSettings) -> list[tuple[str, int]]:
    out = [("postgres", s.mlops_stack_postgres_port)]
    out += [(svc.name, svc.port) for svc in plan(s) if svc.port is not None]
    return out


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str           # healthy | unhealthy | stopped | per-run | not started
    pid: int | None
    where: str


def status(s: StackSettings) -> list[ServiceStatus]:
    rows = [ServiceStatus("postgres", "healthy" if postgres.data_dir(s).exists() and postgres.is_running(s)
                          else "stopped", None, f"127.0.0.1:{s.mlops_stack_postgres_port}")]
    for svc in plan(s):
        pid = procs.running_pid(run_dir(s), svc.name)
        state = "stopped" if pid is None else ("healthy" if _healthy(svc, s) else "unhealthy")
        rows.append(ServiceStatus(svc.name, state, pid, svc.health_url or f"pool {POOL}"))
    rows.append(ServiceStatus("vllm", "per-run", None, f"{s.vllm_url} ({NOT_STARTED['vllm'].split(';')[0]})"))
    return rows
