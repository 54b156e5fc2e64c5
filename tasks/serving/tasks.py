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


@task(name="check-gateway", retries=1, retry_delay_seconds=[3])  # read-only: a retry outlasts a gateway restarting
def check_gateway_task(gateway_url: str, names: list[str], vllm_url: str | None = None,
                       api_key: str | None = None) -> str:
    """Fail unless the gateway is up, accepts `api_key` and lists every served name; returns its URL."""
    from tasks.serving.gateway_route import check_gateway

    check_gateway(gateway_url, names, vllm_url=vllm_url, api_key=api_key)
    return gateway_url
