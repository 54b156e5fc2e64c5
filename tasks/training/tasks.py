"""Thin Prefect @task wrappers over the training step, for flows. Each returns small
serialisable values (paths, ids, metrics), never models. Test the plain functions they call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from configs.pipeline import PipelineConfig
from configs.settings import Settings
from tasks.training.data import PreparedData, prepare_data


@task(name="prepare-data")
def prepare_data_task(cfg: PipelineConfig) -> dict[str, Any]:
    return prepare_data(cfg.data, cfg.paths.datasets_dir).to_dict()


@task(name="build-base-model")
def build_base_model_task(cfg: PipelineConfig, data: dict[str, Any]) -> str:
    from tasks.training.base_model import build_base_model

    return build_base_model(cfg, PreparedData.from_dict(data))


@task(name="train")  # no retries: a re-run resumes from the last checkpoint instead
def train_task(cfg: PipelineConfig, data: dict[str, Any], base_ref: str, log_dir: str) -> dict[str, Any]:
    """Train + evaluate inside one MLflow run; registration is left to register_task."""
    from prefect import get_run_logger

    from tasks.training.mlflow_run import train_without_registering

    return train_without_registering(cfg, Settings(), Path(log_dir), data=PreparedData.from_dict(data),
                                     base_ref=base_ref, run_logger=get_run_logger()).to_dict()


@task(name="register", retries=2, retry_delay_seconds=[2, 10])  # safe: registration is idempotent per run
def register_task(cfg: PipelineConfig, outcome: dict[str, Any]) -> dict[str, Any]:
    """Register a train_task outcome; returns it with model_name and version filled in."""
    from tasks.training.mlflow_run import TrainingOutcome, register_outcome

    return register_outcome(cfg, TrainingOutcome(**outcome)).to_dict()
