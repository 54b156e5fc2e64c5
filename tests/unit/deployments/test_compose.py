"""deployments/docker-compose.yml, checked without a Docker engine: the services the code
expects, health checks, start order, ports the code and Prometheus use, GPU reservations,
secrets only as ${VAR} from deployments/.env, and the paths it mounts and includes.

Each failure names the service and what to change."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.benchmark_request import BenchmarkRequest
from configs.loader import load_config
from configs.retention import DEFAULT_LOG_TYPES, RetentionConfig
from configs.serving import GatewayConfig, ServingConfig
from logging_lib.redaction import is_secret_key, redact_text

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deployments"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
REGISTER = DEPLOY / "register-stack.sh"

EXPECTED = {"postgres", "prefect-server", "prefect-worker", "mlflow", "minio", "vllm", "gateway",
            "loki", "alloy", "grafana", "prometheus", "alertmanager"}
# service -> a string its health check must contain (the endpoint or tool the brief names)
HEALTH_PROBES = {"postgres": "pg_isready", "prefect-server": "/api/health", "mlflow": "/health",
                 "vllm": "/health", "gateway": "/health", "minio": "mc ready", "grafana": "/api/health",
                 "prefect-worker": "/health", "prometheus": "/-/healthy", "alertmanager": "/-/healthy",
                 "alloy": "/-/ready"}
# services whose image cannot run a probe (Loki is distroless): the sidecar that probes them
PROBED_BY = {"loki": ("loki-ready", "http://loki:3100/ready")}
GPU_SERVICES = ("vllm", "prefect-worker")
LOG_WRITERS = ("prefect-worker", "gateway", "vllm")

_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_BARE_VAR = re.compile(r"(?<!\$)\$(?![{$])[A-Za-z_]")
_REF_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: expected a mapping at the top level"
    return data


@pytest.fixture(scope="module")
def main() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def included(main) -> dict[Path, dict[str, Any]]:
    """Included compose files by their path (what `include:` pulls in)."""
    out = {}
    for item in main.get("include", []):
        rel = item if isinstance(item, str) else item["path"]
        path = (DEPLOY / rel).resolve()
        assert path.is_file(), f"include: {rel} does not exist (relative to {DEPLOY}); fix the path"
        out[path] = _load(path)
    return out


@pytest.fixture(scope="module")
def services(main, included) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every service of the stack -> (its definition, the folder its relative paths resolve against)."""
    out = {name: (svc, DEPLOY) for name, svc in main["services"].items()}
    for path, doc in included.items():
        for name, svc in doc["services"].items():
            assert name not in out, f"service {name!r} is defined in both {COMPOSE.name} and {path}: rename one"
            out[name] = (svc, path.parent)
    return out


def _one_shot(svc: dict[str, Any]) -> bool:
    return str(svc.get("restart", "")).lower() == "no"


def _health_text(svc: dict[str, Any]) -> str:
    test = (svc.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def _command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def _env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _published(svc: dict[str, Any]) -> set[int]:
    """The container side of `ports:`."""
    return {int(str(spec).split("/")[0].rsplit(":", 1)[-1]) for spec in svc.get("ports", [])}


def _listens_on(svc: dict[str, Any]) -> set[int]:
    """Where the container listens: `--port N` in its command, else (image default) its published ports."""
    flags = {int(m.group(1)) for m in re.finditer(r"--port[= ](\d+)", " ".join(_command(svc)))}
    return flags or _published(svc)


def _strings(node: Any):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _defaults(main) -> dict[str, str]:
    """${VAR:-default} values, as Compose would substitute them with an empty .env."""
    return {m.group(1): m.group(3) or "" for s in _strings(main) for m in _VAR.finditer(s) if m.group(2) in (":-", "-")}


def test_every_service_the_code_expects_exists(services):
    missing = EXPECTED - set(services)
    assert not missing, (f"deployments/docker-compose.yml (with its include) lacks services {sorted(missing)}: "
                         "add them, or include deployments/observability/docker-compose.yml for loki/alloy/grafana/prometheus")


def test_observability_stack_is_included_not_copied(main, included):
    assert (DEPLOY / "observability" / "docker-compose.yml").resolve() in included, \
        "include deployments/observability/docker-compose.yml (include: [observability/docker-compose.yml])"
    copied = {"loki", "alloy", "grafana", "prometheus"} & set(main["services"])
    assert not copied, f"{sorted(copied)} are copied into docker-compose.yml: remove them, the include provides them"


def test_every_long_running_service_has_a_health_check(services):
    for name, (svc, _) in services.items():
        if _one_shot(svc):
            continue
        if name in PROBED_BY:
            probe, url = PROBED_BY[name]
            assert probe in services, f"{name}: its image cannot run a health check; add the {probe!r} sidecar probing {url}"
            assert url in _health_text(services[probe][0]), f"{probe}: its health check must request {url}"
            continue
        assert _health_text(svc), (f"service {name!r} runs continuously but has no healthcheck: add one "
                                   f"(or restart: \"no\" if it is a one-shot job)")
        if name in HEALTH_PROBES:
            assert HEALTH_PROBES[name] in _health_text(svc), \
                f"service {name!r}: its healthcheck should use {HEALTH_PROBES[name]!r}, got {_health_text(svc)!r}"


def test_depends_on_names_existing_services_with_usable_conditions(services):
    for name, (svc, _) in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            assert dep in services, f"service {name!r} depends_on {dep!r}, which is not defined: fix the name"
            cond = (spec or {}).get("condition", "service_started")
            target = services[dep][0]
            if cond == "service_healthy":
                assert _health_text(target), f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
            elif cond == "service_completed_successfully":
                assert _one_shot(target), f"{name} waits for {dep} to complete, but {dep} is not a one-shot (restart: \"no\")"
            else:
                assert cond == "service_started", f"{name} -> {dep}: unknown depends_on condition {cond!r}"


def test_start_order_waits_for_health_where_it_matters(services):
    def waits(name: str, dep: str) -> bool:
        deps = services[name][0].get("depends_on") or {}
        return isinstance(deps, dict) and (deps.get(dep) or {}).get("condition") == "service_healthy"

    for name, dep in [("prefect-server", "postgres"), ("mlflow", "postgres"), ("prefect-worker", "prefect-server"),
                      ("prefect-worker", "mlflow"), ("gateway", "vllm")]:
        assert waits(name, dep), f"service {name!r} must depend_on {dep!r} with condition: service_healthy"


def test_ports_match_the_config_defaults(services):
    vllm_port, gw_port = ServingConfig().port, GatewayConfig().port
    assert vllm_port in _listens_on(services["vllm"][0]), f"vllm must listen on {vllm_port} (configs/serving.py): --port {vllm_port}"
    gw = services["gateway"][0]
    assert gw_port in _listens_on(gw), f"gateway must listen on {gw_port} (configs/serving.py): --port {gw_port}"
    cmd = _command(gw)
    assert cmd[:2] == ["mlops", "gateway"], f"gateway: run `mlops gateway ...`, got {cmd}"
    assert cmd[cmd.index("--backend-url") + 1] == f"http://vllm:{vllm_port}", "gateway: --backend-url http://vllm:8000"
    for name, (svc, _) in services.items():
        stray = _published(svc) - _listens_on(svc)
        assert not stray, f"service {name!r} publishes {sorted(stray)} but listens on {sorted(_listens_on(svc))}: fix ports:"
    assert "--enable-lora" in " ".join(_command(services["vllm"][0])), "vllm: add --enable-lora (adapters are served)"


def test_vllm_takes_its_tensor_parallel_size_from_the_env_file(main, services):
    """One GPU unless VLLM_TENSOR_PARALLEL_SIZE says more; the variable is documented in .env.example."""
    vllm = services["vllm"][0]
    flag = re.search(r'--tensor-parallel-size[= ]"?\$\$?\{?([A-Z_]+)', " ".join(_command(vllm)))
    assert flag, 'vllm: pass --tensor-parallel-size "$$VLLM_TENSOR_PARALLEL_SIZE" to vllm serve'
    assert _env(vllm).get(flag.group(1)) == "${VLLM_TENSOR_PARALLEL_SIZE:-1}", \
        f"vllm: set {flag.group(1)}: ${{VLLM_TENSOR_PARALLEL_SIZE:-1}} in its environment"
    assert _defaults(main)["VLLM_TENSOR_PARALLEL_SIZE"] == str(ServingConfig().tensor_parallel_size)
    assert "VLLM_TENSOR_PARALLEL_SIZE=" in ENV_EXAMPLE.read_text(), "deployments/.env.example: list VLLM_TENSOR_PARALLEL_SIZE"


def test_prometheus_targets_are_compose_services(services):
    svc, base = services["prometheus"]
    host_cfg = next(v.split(":")[0] for v in svc["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro"))
    cfg = yaml.safe_load((base / host_cfg).read_text())
    targets = [t for job in cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets, "prometheus.yml scrapes nothing"
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in services, f"Prometheus scrapes {target}, but there is no service {host!r}"
        assert int(port) in _listens_on(services[host][0]), \
            f"Prometheus scrapes {target}, but service {host!r} does not listen on {port}"


def test_gpu_services_reserve_a_gpu(services):
    for name in GPU_SERVICES:
        devices = (((services[name][0].get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")
        assert devices and any("gpu" in d.get("capabilities", []) for d in devices), \
            (f"service {name!r} needs a GPU: add deploy.resources.reservations.devices "
             "[{driver: nvidia, count: all, capabilities: [gpu]}]")


def test_no_literal_secrets(main, included):
    for path, doc in [(COMPOSE, main), *included.items()]:
        for name, svc in doc["services"].items():
            for key, value in _env(svc).items():
                if is_secret_key(key) and value.lower() not in ("true", "false"):
                    assert _REF_ONLY.match(value), (f"{path.name}: service {name!r} sets {key} to a literal; write "
                                                    f"{key}: ${{{key}:?set {key} in deployments/.env}} and put it in .env")
        for text in _strings(doc):
            stripped = _VAR.sub("", text)
            assert redact_text(stripped) == stripped, \
                f"{path.name}: {text!r} looks like it holds a credential; use a ${{VAR}} from deployments/.env"


def test_env_example_lists_every_variable_without_a_default(main):
    lines = ENV_EXAMPLE.read_text().splitlines()
    set_vars = {ln.split("=", 1)[0].strip() for ln in lines if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", ln)}
    documented = {m.group(1) for ln in lines for m in [re.match(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=", ln)] if m} | set_vars
    used: dict[str, bool] = {}
    for text in _strings(main):
        assert not _BARE_VAR.search(text), f"{text!r}: write ${{VAR}} (braced) or $$VAR for the container's shell"
        for m in _VAR.finditer(text):
            required = m.group(2) is None or "?" in m.group(2)
            used[m.group(1)] = used.get(m.group(1), False) or required
    for var, required in sorted(used.items()):
        if required:
            assert var in set_vars, f"docker-compose.yml needs ${{{var}}}: add `{var}=change-me` to deployments/.env.example"
        else:
            assert var in documented, f"docker-compose.yml reads ${{{var}}}: document it as `# {var}=...` in .env.example"
    for ln in lines:
        key, sep, value = ln.partition("=")
        if sep and not ln.startswith("#") and is_secret_key(key):
            assert value in ("", "change-me"), f".env.example: {key} must be a placeholder (change-me), not a value"
    assert "deployments/.env" in (REPO / ".gitignore").read_text().splitlines(), "git-ignore deployments/.env"


def test_logs_are_shared_by_writers_and_alloy(services):
    def log_mount(name: str, container_path: str | None = None) -> tuple[Path, str]:
        svc, base = services[name]
        for vol in svc.get("volumes", []):
            host, _, rest = str(vol).partition(":")
            target = rest.split(":")[0]
            if host.startswith(".") and (target == container_path or (container_path is None and target == "/logs")):
                return (base / host).resolve(), target
        raise AssertionError(f"service {name!r} mounts no logs folder: add `../logs:/logs`")

    alloy_host, alloy_path = log_mount("alloy", "/var/log/mlops")
    assert alloy_host == (REPO / "logs").resolve(), f"alloy reads {alloy_host}, not the repository's logs/"
    for name in LOG_WRITERS:
        host, target = log_mount(name)
        assert host == alloy_host, f"service {name!r} writes logs to {host} but Alloy reads {alloy_host}"
        env_dir = _env(services[name][0]).get("MLOPS_LOG_DIR")
        if name != "vllm":
            assert env_dir == target, f"service {name!r}: set MLOPS_LOG_DIR={target} (its logs mount)"
    alloy_cfg = (services["alloy"][1] / "alloy" / "config.alloy").read_text()
    for log_type in DEFAULT_LOG_TYPES:
        assert f"{alloy_path}/{log_type}/*.log" in alloy_cfg, f"Alloy does not read {log_type} logs: add it to config.alloy"


def test_mounted_files_and_build_contexts_exist(services, main, included):
    for name, (svc, base) in services.items():
        for vol in svc.get("volumes", []):
            host = str(vol).split(":")[0]
            if host.startswith(".") and Path(host).name not in ("logs", "data"):
                assert (base / host).exists(), f"service {name!r} mounts {host}, which does not exist under {base}"
        build = svc.get("build")
        if build:
            ctx = base / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = ctx / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            assert dockerfile.is_file(), f"service {name!r} builds from {dockerfile}, which does not exist"
    for path, doc in [(COMPOSE, main), *included.items()]:
        declared = set(doc.get("volumes") or {})
        for name, svc in doc["services"].items():
            for vol in svc.get("volumes", []):
                src = str(vol).split(":")[0]
                if not src.startswith(("/", ".", "~")):
                    assert src in declared, f"{path.name}: service {name!r} uses volume {src!r}: declare it under volumes:"


def test_worker_image_runs_the_pool_prefect_yaml_names(services):
    pool = _load(DEPLOY / "prefect.yaml")["definitions"]["work_pools"]["local"]["name"]
    worker = " ".join(_command(services["prefect-worker"][0]))
    assert f"--pool {pool}" in worker, f"prefect-worker: start the worker on pool {pool!r} (deployments/prefect.yaml)"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'pip install -e ".[training,serving]"' in dockerfile, "deployments/Dockerfile: install .[training,serving]"
    assert f'"--pool", "{pool}"' in dockerfile, f"deployments/Dockerfile: CMD should start a worker on {pool!r}"
    assert f"work-pool create {pool} --type process" in REGISTER.read_text(), f"register-stack.sh: create pool {pool}"
    env = _env(services["prefect-worker"][0])
    for var in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_ENDPOINT_URL_S3", "MLOPS_LOG_DIR"):
        assert var in env, f"prefect-worker: set {var} in its environment"
    # the benchmark goes through the gateway (serving.gateway_url), whose /v1/* needs one of its keys
    assert env.get("MLOPS_GATEWAY_API_KEYS") == _env(services["gateway"][0])["MLOPS_GATEWAY_API_KEYS"], \
        "prefect-worker: pass the gateway's MLOPS_GATEWAY_API_KEYS (the benchmark sends the first)"


def _registered_params(env: dict[str, str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Run register-stack.sh with a recording `prefect` (MLOPS_PREFECT_CLI): each deployment's --params."""
    calls = tmp_path / "calls.jsonl"
    recorder = tmp_path / "prefect"
    recorder.write_text(f"#!{sys.executable}\nimport json, sys\n"
                        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    recorder.chmod(0o755)
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    proc = subprocess.run(["sh", str(REGISTER)], env={**os.environ, **env, "MLOPS_PREFECT_CLI": str(recorder), "MLOPS_SAFEGUARDS_PYTHON": str(recorder),
                                                      "PATH": path}, cwd=REPO, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    params: dict[str, dict[str, Any]] = {}
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert ["-m", "flows.safeguards"] in recorded, "register-stack.sh installs the gpu limit and the automations"
    for argv in recorded:
        if "--params" in argv:
            params[argv[argv.index("--name") + 1]] = json.loads(argv[argv.index("--params") + 1])
    return params


def test_stack_parameters_are_valid_for_the_flows(main, services, tmp_path):
    """The --params register-stack.sh gives each deployment validate against our config models."""
    names = {d["name"] for d in _load(DEPLOY / "prefect.yaml")["deployments"]}
    env = {**_defaults(main), **{k: v for k, v in _env(services["prefect-deploy"][0]).items() if not _VAR.search(v)}}
    params = _registered_params(env, tmp_path)
    assert set(params) <= names, f"register-stack.sh deploys {sorted(set(params) - names)}, not in prefect.yaml"
    assert set(params) == {"nightly", "on-demand", "daily"}, f"register-stack.sh should parametrise {sorted(params)}"
    nightly = params["nightly"]
    cfg = load_config(REPO / nightly["config_path"], nightly["site_overrides"])
    assert cfg.serving.mode == "attached" and cfg.serving.base_url == "http://vllm:8000"
    assert cfg.serving.gateway_url == "http://gateway:8080", "the stack's benchmark goes through the gateway"
    assert cfg.mlflow.tracking_uri == "http://mlflow:5000"
    request = BenchmarkRequest.model_validate(params["on-demand"]["request"])
    assert request.overrides == [], "the stack's URLs go in site_overrides, so a request given whole keeps them"
    stack_cfg = load_config(REPO / request.config_path, params["on-demand"]["site_overrides"])
    assert stack_cfg.mlflow.tracking_uri == "http://mlflow:5000" and request.model_ref == env["MLOPS_MODEL_REF"]
    assert request.num_prompts == stack_cfg.benchmark.num_prompts      # the form starts at the config's values
    assert RetentionConfig.model_validate(params["daily"]["retention"]).destination.startswith("s3://")
