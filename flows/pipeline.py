"""`training-pipeline`: data -> base model -> QLoRA training (with before/after evaluation)
-> registration as `candidate` -> vLLM deployment (the champion's adapter beside it, when
there is one) -> benchmark -> head to head with the champion -> promotion gate -> stop.

The flow only orders tasks. The managed vLLM server is stopped in `finally`, so it never
outlives a failed benchmark or gate; a failing task fails the flow with its own message.
Training through stopping vLLM holds one slot of the `orchestration.gpu_limit` Prefect
concurrency limit, so a second run waits for the GPU instead of sharing it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows._gate import measure_and_decide
from tasks.benchmark.tasks import publish_report_task
from tasks.pipeline.gpu_slot import gpu_slot
from tasks.pipeline.tasks import load_config_task
from tasks.promotion.tasks import champion_task
from tasks.registry.tasks import champion_quality_task, record_benchmark_task
from tasks.serving.tasks import deploy_model_task, stop_model_task
from tasks.training.tasks import build_base_model_task, prepare_data_task, register_task, train_task


@flow(name="training-pipeline", log_prints=True)
def training_pipeline(config_path: str = "configs/local.yaml", overrides: list[str] | None = None,
                      log_dir: str | None = None, deploy_and_benchmark: bool = True,
                      site_overrides: list[str] | None = None) -> dict[str, Any]:
    """Fine-tune, register, serve, benchmark and decide on promotion.

    Args:
        config_path: pipeline YAML, relative to the project root or absolute.
        overrides: `section.field=value` items, as `mlops train --set` takes them.
        log_dir: typed-log folder (default: the config's paths.log_dir, else $MLOPS_LOG_DIR, else ./logs).
        deploy_and_benchmark: false stops after registration.
        site_overrides: where this deployment's services are (a stack's MLflow server, its vLLM
            port), applied before `overrides`, so a run's `--param overrides=...` keeps them.
    """
    from logging_lib import resolve_log_dir
    from tasks.benchmark.plan import benchmark_config, result_dir

    log = get_run_logger()
    cfg = load_config_task(config_path, [*(site_overrides or []), *(overrides or [])], flow_run.get_name())
    logs = str(resolve_log_dir(log_dir or cfg.paths.log_dir))
    uri = str(cfg.mlflow.tracking_uri)
    data = prepare_data_task(cfg)
    base_ref = build_base_model_task(cfg, data)
    with gpu_slot(cfg.orchestration.gpu_limit, cfg.orchestration.gpu_lease_s, log, flow_run.get_id()):
        outcome = train_task(cfg, data, base_ref, logs)
        registered = register_task(cfg, outcome)
        name, version = registered["model_name"], registered["version"]
        ref = f"models:/{name}/{version}"
        log.info("registered %s (alias %s); metrics: %s", ref, cfg.mlflow.candidate_alias, registered["metrics"])
        summary: dict[str, Any] = {"mlflow_run_id": registered["run_id"], "tracking_uri": uri, "model_ref": ref,
                                   "adapter_dir": registered["adapter_dir"], "log_dir": logs,
                                   "metrics": registered["metrics"]}
        if not deploy_and_benchmark:
            return summary
        champion = champion_task(uri, name, version, cfg.promotion)
        log.info("promotion: %s", champion["reason"])
        gate = {"tracking_uri": uri, "name": name, "version": version,
                "champion_quality": champion_quality_task(uri, name, cfg.promotion.alias)}
        deployment = deploy_model_task(cfg.serving, uri, ref, logs, also=[champion["ref"]] if champion["ref"] else None)
        try:
            out = result_dir(cfg, f"{name}-v{version}")
            bench, h2h, decision = measure_and_decide(cfg.promotion, benchmark_config(cfg, data["eval_path"]),
                                                      deployment, out, logs, champion=champion, gate=gate,
                                                      capacity=cfg.capacity, gateway_url=cfg.serving.gateway_url)
        finally:
            stop_model_task(deployment["pid"], cfg.serving.stop_timeout_s)
    record_benchmark_task(uri, name, version, bench, decision)
    report = publish_report_task(bench, decision, ref, uri, name, version, f"{name}-v{version}", h2h)
    log.info(decision["summary"])
    return {**summary, "benchmark": bench, "report": report, "promoted": decision["promoted"],
            "head_to_head": h2h and {k: h2h[k] for k in ("comparison_file", "markdown_file", "plot_file")},
            "gate": {"passed": decision["passed"], "failed": decision["failed"], "summary": decision["summary"],
                     "mode": decision["mode"], "champion_version": decision["champion_version"]}}
