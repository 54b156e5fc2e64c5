"""Thin Prefect tasks around tasks.serving: build from config, return small values."""

from __future__ import annotations

from prefect import task

from configs.serving import ServingConfig
from logging_lib import resolve_log_dir


# Safe to retry: a failed start stops every process it started before raising (start_managed),
# so a retry never runs beside a first vLLM; attaching only reads and loads an adapter.
@task(name="deploy-model", retries=1, retry_delay_seconds=[5])
def deploy_model_task(serving: ServingConfig, tracking_uri: str, model_ref: str, log_dir: str | None = None,
                      also: list[str] | None = None) -> dict:
    """Resolve `model_ref` (and the refs in `also`, served beside it by the same vLLM) in the
    registry and serve them; returns base_url, served_name, pid, ..., and served_names (ref -> name)."""
    from configs.settings import Settings
    from tasks.serving import deploy, resolve_targets

    target = resolve_targets(tracking_uri, [model_ref, *(also or [])], serving)
    return deploy(target, serving, resolve_log_dir(log_dir), Settings().hf_token_value()).to_dict()


@task(name="stop-model")
def stop_model_task(pid: int | None, stop_timeout_s: float = 20.0) -> bool:
    """Stop a managed vLLM (its whole process group); attached servers (pid None) are left alone."""
    from tasks.serving import stop_process_tree

    return stop_process_tree(pid, stop_timeout_s) if pid else False
