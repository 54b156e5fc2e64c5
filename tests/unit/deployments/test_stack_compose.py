"""scripts/stack.sh runs docker-compose.yml's stack as local processes: the two must keep the
same service names, ports and variables, so what is tested here is what a team deploys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from configs.stack import StackSettings
from tasks.stack.lifecycle import PORT_VARIABLES
from tasks.stack.services import NOT_STARTED, STANDS_IN, client_env, deploy_env, plan

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "deployments" / "docker-compose.yml"
OBSERVABILITY = REPO / "deployments" / "observability" / "docker-compose.yml"

# compose's one-shot containers: the stack runs the same step in `up` (tasks/stack/lifecycle.py)
ONE_SHOTS = {"minio-buckets": "ensure_buckets", "prefect-deploy": "register"}
# variables that only mean something inside a container (paths of its image and volumes)
CONTAINER_ONLY = {"TMPDIR"}


def _services(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["services"]


def _published(service: dict) -> set[int]:
    return {int(str(p).split(":")[-2] if str(p).count(":") else p) for p in service.get("ports", [])}


def _env_names(service: dict) -> set[str]:
    env = service.get("environment", {})
    return set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> StackSettings:
    state = tmp_path_factory.mktemp("state")
    return StackSettings(postgres_password="pw", aws_access_key_id="id", aws_secret_access_key="secret",
                         mlops_gateway_api_keys="k1,k2", mlops_stack_state_dir=state, mlops_log_dir=state / "logs")


@pytest.fixture(scope="module")
def compose() -> dict:
    return {**_services(COMPOSE), **_services(OBSERVABILITY)}


def test_every_compose_service_is_run_stood_in_for_or_said_why_not(settings, compose):
    local = {svc.service for svc in plan(settings)} | {"postgres"} | set(ONE_SHOTS)
    accounted = local | set(NOT_STARTED)
    assert set(compose) - accounted == set(), "compose services the stack neither runs nor explains (NOT_STARTED)"
    assert local - set(compose) == set(), "stack services compose does not have: add them there too"
    assert set(STANDS_IN) <= local and not set(NOT_STARTED) & local


def test_ports_are_compose_ports(settings, compose):
    """Every port compose publishes for a service the stack runs is the stack's default port."""
    ports = {svc.service: svc.port for svc in plan(settings) if svc.port is not None}
    ports["vllm"] = settings.mlops_stack_vllm_port   # started per run on it, behind the gateway
    for name, port in ports.items():
        published = _published(compose[name])
        assert port in published, f"{name}: the stack listens on {port}, compose publishes {sorted(published)}"
    assert settings.mlops_stack_postgres_port == 5432       # compose's Postgres port (internal)
    assert set(ports) <= set(PORT_VARIABLES), "each port can be moved by a variable that status/errors name"


def test_each_service_gets_the_variables_compose_gives_it(settings, compose):
    for svc in plan(settings):
        if svc.service in STANDS_IN:
            continue
        wanted = _env_names(compose[svc.service]) - CONTAINER_ONLY - {"DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED",
                                                                       "MLFLOW_DISABLE_TELEMETRY"}
        missing = wanted - set(svc.own_env) - ({"HF_TOKEN"} if svc.service == "prefect-worker" else set())
        assert not missing, f"{svc.name}: compose sets {sorted(missing)}, the stack does not"
        for key in ("DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY"):
            assert svc.env[key] in ("1", "true"), f"{svc.name}: telemetry must be off"
    worker = next(svc for svc in plan(settings) if svc.service == "prefect-worker")
    assert set(client_env(settings)) <= set(worker.env)


def test_prefect_deploy_gets_compose_variables(settings, compose):
    wanted = _env_names(compose["prefect-deploy"]) - {"DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED",
                                                      "MLFLOW_DISABLE_TELEMETRY"}
    assert wanted <= set(deploy_env(settings)), sorted(wanted - set(deploy_env(settings)))


def test_defaults_are_compose_defaults(compose):
    """Bucket names and the Postgres user default to what compose's ${VAR:-default}s say."""
    fields = StackSettings.model_fields
    text = COMPOSE.read_text()
    for var in ("POSTGRES_USER", "MLFLOW_BUCKET", "MLOPS_BACKUP_BUCKET", "AWS_DEFAULT_REGION"):
        assert f"${{{var}:-{fields[var.lower()].default}}}" in text, f"{var}: the stack's default differs from compose's"


def test_two_workers_by_default_on_the_pool_prefect_yaml_names(settings):
    pool = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())["definitions"]["work_pools"]["local"]
    workers = [svc for svc in plan(settings) if svc.service == "prefect-worker"]
    assert len(workers) == 2 and len({w.name for w in workers}) == 2
    assert all(w.argv[w.argv.index("--pool") + 1] == pool["name"] for w in workers)


def test_an_s3_of_your_own_replaces_the_stand_in(settings):
    own = settings.model_copy(update={"aws_endpoint_url_s3": "https://minio.internal:9000"})
    services = {svc.name: svc for svc in plan(own)}
    assert "minio" not in services and "minio" in {svc.name for svc in plan(settings)}
    worker, mlflow = services["prefect-worker-1"], services["mlflow"]
    assert worker.env["AWS_ENDPOINT_URL_S3"] == mlflow.env["MLFLOW_S3_ENDPOINT_URL"] == "https://minio.internal:9000"
