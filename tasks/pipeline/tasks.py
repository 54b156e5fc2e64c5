"""Prefect tasks every flow runs before its stages: the config, loaded and validated once."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from configs.pipeline import PipelineConfig


@task(name="load-config")
def load_config_task(config_path: str, overrides: list[str], flow_run_name: str | None = None) -> PipelineConfig:
    """Validated once, here; a bad file fails the flow before any work with file, field and fix."""
    from configs.loader import load_config
    from tasks.pipeline.run_config import PROJECT_ROOT, resolve_under, with_run_name

    return with_run_name(load_config(resolve_under(Path(config_path), PROJECT_ROOT), overrides), flow_run_name)
