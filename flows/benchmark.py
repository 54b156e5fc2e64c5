"""`benchmark`: deploy a registry version (or use a running endpoint), measure it, report,
and optionally run the promotion gate. Its one parameter is a pydantic model, so the
Prefect UI shows a form with a description under every field."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from configs.benchmark_request import BenchmarkRequest
from tasks.benchmark.tasks import benchmark
from tasks.pipeline.tasks import champion_quality_task, load_config_task, publish_report_task, record_benchmark_task
from tasks.promotion.tasks import promotion_gate
from tasks.serving.tasks import deploy_model, stop_model


@flow(name="benchmark", log_prints=True)
def benchmark_flow(request: BenchmarkRequest = BenchmarkRequest(), log_dir: str | None = None) -> dict[str, Any]:
    from logging_lib import resolve_log_dir
    from tasks.pipeline.run_config import benchmark_config, result_dir
    from tasks.registry.versions import resolve_model

    log = get_run_logger()
    logs = str(resolve_log_dir(log_dir))
    cfg = load_config_task(request.config_path, list(request.overrides))
    uri = str(cfg.mlflow.tracking_uri)
    name = version = None
    eval_path = None
    if request.endpoint:
        deployment = {"base_url": request.endpoint.rstrip("/"), "served_name": request.served_model_name, "pid": None}
    else:
        resolved = resolve_model(uri, request.model_ref)
        name, version = resolved.name, str(resolved.version)
        eval_path = resolved.tags.get("eval_path") or _default_eval_path(cfg)
        deployment = deploy_model(cfg.serving, uri, f"models:/{name}/{version}", logs)
    label = request.run_label or (f"{name}-v{version}" if name else request.served_model_name)
    try:
        bench_cfg = benchmark_config(cfg, eval_path, request, measure_quality=request.measure_quality and bool(eval_path))
        out = result_dir(cfg, label)
        bench = benchmark(bench_cfg, deployment["base_url"], deployment["served_name"], str(out / "result.json"), logs)
        decision = None
        if request.promote:
            champion = champion_quality_task(uri, name, cfg.promotion.alias)
            decision = promotion_gate(bench["result_file"], cfg.promotion, uri, name, version, champion)
    finally:
        if deployment.get("pid"):
            stop_model(deployment["pid"], cfg.serving.stop_timeout_s)
    if name:
        record_benchmark_task(uri, name, version, bench, decision)
    report = publish_report_task(bench, decision, request.model_ref if name else request.endpoint, uri, name,
                                 version, label)
    log.info("benchmark done: %s", {k: bench.get(k) for k in ("completed", "failed", "p99_ttft_ms", "quality")})
    return {"benchmark": bench, "report": report, "decision": decision}


def _default_eval_path(cfg) -> str | None:
    """The held-out split the training step wrote for this config's dataset."""
    from tasks.training.data import prepare_data

    return str(prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path)
