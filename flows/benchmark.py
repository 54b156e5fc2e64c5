"""`benchmark`: deploy a registry version (or use a running endpoint), measure it, report,
and optionally run the promotion gate. Its one parameter is a pydantic model, so the
Prefect UI shows a form with a description under every field."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from configs.benchmark_request import BenchmarkRequest
from tasks.benchmark.results import HEADLINE_METRICS
from tasks.benchmark.tasks import benchmark_task, publish_report_task
from tasks.pipeline.tasks import load_config_task
from tasks.promotion.tasks import promotion_gate_task
from tasks.registry.tasks import champion_quality_task, record_benchmark_task, resolve_model_task
from tasks.serving.tasks import deploy_model_task, stop_model_task
from tasks.training.tasks import prepare_data_task


@flow(name="benchmark", log_prints=True)
def benchmark_flow(request: BenchmarkRequest = BenchmarkRequest(), log_dir: str | None = None) -> dict[str, Any]:
    from logging_lib import resolve_log_dir
    from tasks.benchmark.plan import benchmark_config, result_dir

    log = get_run_logger()
    logs = str(resolve_log_dir(log_dir))
    cfg = load_config_task(request.config_path, list(request.overrides))
    uri = str(cfg.mlflow.tracking_uri)
    name = version = None
    eval_path = None
    if request.endpoint:
        deployment = {"base_url": request.endpoint.rstrip("/"), "served_name": request.served_model_name, "pid": None}
    else:
        resolved = resolve_model_task(uri, request.model_ref)
        name, version = resolved["name"], resolved["version"]
        # the held-out split the training step wrote, when the version does not name its own
        eval_path = resolved["eval_path"] or prepare_data_task(cfg)["eval_path"]
        deployment = deploy_model_task(cfg.serving, uri, f"models:/{name}/{version}", logs)
    label = request.run_label or (f"{name}-v{version}" if name else request.served_model_name)
    try:
        bench_cfg = benchmark_config(cfg, eval_path, request, measure_quality=request.measure_quality and bool(eval_path))
        out = result_dir(cfg, label)
        bench = benchmark_task(bench_cfg, deployment["base_url"], deployment["served_name"], str(out / "result.json"),
                               logs, base_model=deployment.get("base_name"))  # none for a bare endpoint
        decision = None
        if request.promote:
            champion = champion_quality_task(uri, name, cfg.promotion.alias)
            decision = promotion_gate_task(bench["result_file"], cfg.promotion, uri, name, version, champion)
    finally:
        if deployment.get("pid"):
            stop_model_task(deployment["pid"], cfg.serving.stop_timeout_s)
    if name:
        record_benchmark_task(uri, name, version, bench, decision)
    report = publish_report_task(bench, decision, request.model_ref if name else request.endpoint, uri, name,
                                 version, label)
    log.info("benchmark done: %s", {k: bench[k] for k in HEADLINE_METRICS})
    return {"benchmark": bench, "report": report, "decision": decision}
