"""What the one-machine stack runs: docker-compose.yml's services, as local processes.

Same service names, ports and variables as `deployments/docker-compose.yml`
(tests/unit/deployments/test_stack_compose.py keeps the two in step). Where this profile
differs by design, `NOT_STARTED` / `STANDS_IN` say why.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from configs.stack import StackSettings

POOL = "mlops-local"
PYTHON = sys.executable

# compose services this profile does not start, and why (shown by `stack.sh status`)
NOT_STARTED = {
    "vllm": "each pipeline run starts its own vLLM on this port (serving.mode=managed) behind the gateway, and "
            "stops it at the end; the gpu concurrency limit keeps two runs off it",
    "loki": "observability: deployments/observability/ (Docker) or your own Loki reading logs/",
    "loki-ready": "observability sidecar",
    "alloy": "observability: ships logs/ to Loki",
    "prometheus": "observability: scrapes the gateway's /metrics",
    "alertmanager": "observability",
    "grafana": "observability",
}
# compose services played here by another program with the same port and API
STANDS_IN = {"minio": "moto's S3 server (in memory); set AWS_ENDPOINT_URL_S3 to use MinIO or S3 instead"}

TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
                 "VLLM_NO_USAGE_STATS": "1"}


@dataclass(frozen=True)
class Service:
    """`name` is the process (`prefect-worker-2`); `service` is compose's name (`prefect-worker`)."""

    name: str
    service: str
    argv: list[str]
    env: dict[str, str]
    port: int | None = None
    health_url: str | None = None
    own_env: tuple[str, ...] = field(default=())  # the variables this service is given (compose's names)


def base_env() -> dict[str, str]:
    """This process's environment without anything that would point a service elsewhere
    (a user's PREFECT_API_URL or MLflow URI must not leak into the stack's processes)."""
    drop = ("PREFECT_", "MLFLOW_TRACKING_URI")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)} | TELEMETRY_OFF


def _service(name: str, service: str, argv: list[str], own: dict[str, str], **kw) -> Service:
    return Service(name, service, argv, base_env() | own, own_env=tuple(own), **kw)


def s3_env(s: StackSettings) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": s.aws_access_key_id.get_secret_value(),
            "AWS_SECRET_ACCESS_KEY": s.aws_secret_access_key.get_secret_value(),
            "AWS_DEFAULT_REGION": s.aws_default_region}


def client_env(s: StackSettings) -> dict[str, str]:
    """What a worker's flow runs (and a user's shell: `stack.sh env`) need to reach the stack."""
    env = {"PREFECT_API_URL": s.prefect_api_url, "MLFLOW_TRACKING_URI": s.mlflow_url,
           "MLFLOW_S3_ENDPOINT_URL": s.s3_endpoint, **s3_env(s), "AWS_ENDPOINT_URL_S3": s.s3_endpoint,
           "MLOPS_LOG_DIR": str(s.mlops_log_dir), "MLOPS_GATEWAY_API_KEY": s.gateway_keys[0]}
    if os.environ.get("HF_TOKEN"):
        env["HF_TOKEN"] = os.environ["HF_TOKEN"]
    return env


def plan(s: StackSettings) -> list[Service]:
    """The long-running services in start order (Postgres is started by postgres.py first)."""
    out: list[Service] = []
    if not s.aws_endpoint_url_s3:
        out.append(_service("minio", "minio", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                               str(s.mlops_stack_s3_port)], {}, port=s.mlops_stack_s3_port,
                            health_url=f"{s.s3_endpoint}/"))
    out.append(_service(
        "prefect-server", "prefect-server",
        [PYTHON, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(s.mlops_stack_prefect_port)],
        {"PREFECT_API_DATABASE_CONNECTION_URL": s.db_url("prefect", "postgresql+asyncpg"),
         "PREFECT_UI_API_URL": s.prefect_api_url, "PREFECT_HOME": str(s.mlops_stack_state_dir / "prefect-home")},
        port=s.mlops_stack_prefect_port, health_url=f"{s.prefect_api_url}/health"))
    out.append(_service(
        "mlflow", "mlflow", [PYTHON, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                             str(s.mlops_stack_mlflow_port), "--workers", "2"],
        {"MLFLOW_BACKEND_STORE_URI": s.db_url("mlflow", "postgresql+psycopg2"),
         "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{s.mlflow_bucket}/artifacts", "MLFLOW_S3_ENDPOINT_URL": s.s3_endpoint,
         **s3_env(s), "MLFLOW_SERVER_ALLOWED_HOSTS": f"localhost,localhost:{s.mlops_stack_mlflow_port},127.0.0.1,"
                                                     f"127.0.0.1:{s.mlops_stack_mlflow_port}"},
        port=s.mlops_stack_mlflow_port, health_url=f"{s.mlflow_url}/health"))
    out.append(_service(
        "gateway", "gateway", [PYTHON, "-m", "flows.cli", "gateway", "--backend-url", s.vllm_url, "--host", "127.0.0.1",
                               "--port", str(s.mlops_stack_gateway_port)],
        {"MLOPS_LOG_DIR": str(s.mlops_log_dir), "MLOPS_GATEWAY_API_KEYS": s.mlops_gateway_api_keys.get_secret_value()},
        port=s.mlops_stack_gateway_port, health_url=f"{s.gateway_url}/metrics"))  # /health is vLLM's, per run
    for i in range(1, s.mlops_stack_workers + 1):
        out.append(_service(
            f"prefect-worker-{i}", "prefect-worker",
            [PYTHON, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process", "--name",
             f"prefect-worker-{i}"],
            {**client_env(s), "MLOPS_GATEWAY_API_KEYS": s.mlops_gateway_api_keys.get_secret_value(),
             "PREFECT_HOME": str(s.mlops_stack_state_dir / "prefect-home"),
             # a run's heartbeat, which the crash-zombie-flow-runs automation watches (docs/deployments.md)
             "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
             **_worker_settings()}))
    return out


def _worker_settings() -> dict[str, str]:
    """Worker tunables a user may set for the stack (e.g. PREFECT_WORKER_QUERY_SECONDS=1 in tests)."""
    keep = ("PREFECT_WORKER_QUERY_SECONDS", "PREFECT_WORKER_PREFETCH_SECONDS")
    return {k: os.environ[k] for k in keep if k in os.environ}


def deploy_env(s: StackSettings) -> dict[str, str]:
    """register-stack.sh's variables for this profile: the stack's URLs instead of compose's
    host names, and vLLM started per run on the `vllm` port behind the gateway."""
    serving = (f"serving.mode=managed serving.port={s.mlops_stack_vllm_port} "
               f"serving.gateway_url={s.gateway_url}")
    return base_env() | {"PREFECT_API_URL": s.prefect_api_url, "MLOPS_PIPELINE_CONFIG": s.mlops_pipeline_config,
                         "MLOPS_MODEL_REF": s.mlops_model_ref, "MLFLOW_BUCKET": s.mlflow_bucket,
                         "MLOPS_BACKUP_BUCKET": s.mlops_backup_bucket, "MLOPS_STACK_MLFLOW_URI": s.mlflow_url,
                         "MLOPS_STACK_SERVING": serving, "PREFECT_HOME": str(s.mlops_stack_state_dir / "prefect-home")}

