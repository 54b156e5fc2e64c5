"""`benchmark`: deploy a registry version (or use a running endpoint), measure it, report,
optionally compare it head to head with another version (by default the champion) served by
the same vLLM, and optionally run the promotion gate. Its one parameter is a pydantic model,
so the Prefect UI shows a form with a description under every field. When it starts its own
vLLM it holds a slot of the `orchestration.gpu_limit` concurrency limit from deploy to stop."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from configs.benchmark_request import BenchmarkRequest
from flows._gate import measure_and_decide
from tasks.benchmark.results import HEADLINE_METRICS
from tasks.benchmark.tasks import publish_report_task
from tasks.pipeline.gpu_slot import gpu_slot
from tasks.pipeline.tasks import load_config_task
from tasks.promotion.tasks import champion_task
from tasks.registry.tasks import champion_quality_task, record_benchmark_task, resolve_model_task
from tasks.serving.tasks import deploy_model_task, stop_model_task
from tasks.training.tasks import prepare_data_task

_NOBODY = {"version": None, "ref": None, "reason": "no head-to-head comparison asked for"}


@flow(name="benchmark", log_prints=True)
def benchmark_flow(request: BenchmarkRequest = BenchmarkRequest(), log_dir: str | None = None,
                   site_overrides: list[str] | None = None) -> dict[str, Any]:
    """`site_overrides`: where this deployment's services are (a stack's MLflow server, its vLLM
    port), applied before the request's own `overrides`, so a request given whole keeps them."""
    from logging_lib import resolve_log_dir
    from tasks.benchmark.plan import benchmark_config, capacity_config, result_dir

    log = get_run_logger()
    logs = str(resolve_log_dir(log_dir))
    cfg = load_config_task(request.config_path, [*(site_overrides or []), *request.overrides])
    capacity = capacity_config(cfg, request)
    uri = str(cfg.mlflow.tracking_uri)
    name = version = None
    eval_path = None
    champion = _NOBODY
    if request.endpoint:
        deployment = {"base_url": request.endpoint.rstrip("/"), "served_name": request.served_model_name, "pid": None}
    else:
        resolved = resolve_model_task(uri, request.model_ref)
        name, version = resolved["name"], resolved["version"]
        # the held-out split the training step wrote, when the version does not name its own
        eval_path = resolved["eval_path"] or prepare_data_task(cfg)["eval_path"]
        champion = _opponent(request, uri, name, version, cfg.promotion)
        log.info("head to head: %s", champion["reason"])
    label = request.run_label or (f"{name}-v{version}" if name else request.served_model_name)
    gate = None
    if request.promote:
        gate = {"tracking_uri": uri, "name": name, "version": version,
                "champion_quality": champion_quality_task(uri, name, cfg.promotion.alias)}
    bench_cfg = benchmark_config(cfg, eval_path, request, measure_quality=request.measure_quality and bool(eval_path))
    # a vLLM of our own needs the GPU: the same slot the pipeline's training and serving hold
    starts_vllm = not request.endpoint and cfg.serving.mode == "managed"
    orch = cfg.orchestration
    with gpu_slot(orch.gpu_limit, orch.gpu_lease_s, log, flow_run.get_id()) if starts_vllm else nullcontext():
        if not request.endpoint:
            deployment = deploy_model_task(cfg.serving, uri, f"models:/{name}/{version}", logs,
                                           also=[champion["ref"]] if champion["ref"] else None)
        try:
            bench, h2h, decision = measure_and_decide(cfg.promotion, bench_cfg, deployment, result_dir(cfg, label),
                                                      logs, champion=champion, gate=gate, capacity=capacity,
                                                      gateway_url=_gateway(request, cfg.serving.gateway_url))
        finally:
            if deployment.get("pid"):
                stop_model_task(deployment["pid"], cfg.serving.stop_timeout_s)
    if name:
        record_benchmark_task(uri, name, version, bench, decision)
    report = publish_report_task(bench, decision, request.model_ref if name else request.endpoint, uri, name,
                                 version, label, h2h)
    log.info("benchmark done: %s", {k: bench[k] for k in HEADLINE_METRICS})
    return {"benchmark": bench, "report": report, "decision": decision, "head_to_head": h2h}


def _gateway(request: Any, gateway_url: str | None) -> str | None:
    """serving.gateway_url for a deployed version; an `endpoint` is benchmarked as given, through
    the gateway's check and key only when it is that gateway."""
    if request.endpoint and request.endpoint.rstrip("/") != gateway_url:
        return None
    return gateway_url


def _opponent(request: Any, uri: str, name: str, version: str, promotion: Any) -> dict[str, Any]:
    """Whom to compare with: `compare_with` when given, else the champion when promoting."""
    if request.compare_with:
        other = resolve_model_task(uri, request.compare_with)
        if other["name"] == name and other["version"] == version:
            return {**_NOBODY, "reason": f"{request.compare_with} is the benchmarked version itself"}
        return {"version": other["version"], "ref": f"models:/{other['name']}/{other['version']}",
                "reason": f"head to head with {request.compare_with} (v{other['version']}) on one vLLM"}
    if request.promote and request.head_to_head:
        return champion_task(uri, name, version, promotion)
    return _NOBODY
