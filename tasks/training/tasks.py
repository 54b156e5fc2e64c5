"""Thin Prefect @task wrappers over the training step, for flows. Each returns small
serialisable values (paths, ids, metrics), never models. Test the plain functions they call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from configs.pipeline import PipelineConfig
from configs.settings import Settings
from tasks.training.data import PreparedData, prepare_data


def _prepared(d: dict[str, Any]) -> PreparedData:
    return PreparedData(**{**d, "train_path": Path(d["train_path"]), "eval_path": Path(d["eval_path"])})


@task(name="prepare-data")
def prepare_data_task(cfg: PipelineConfig) -> dict[str, Any]:
    return prepare_data(cfg.data, cfg.paths.datasets_dir).to_dict()


@task(name="build-base-model")
def build_base_model_task(cfg: PipelineConfig, data: dict[str, Any]) -> str:
    from tasks.training.run import build_base_model

    return build_base_model(cfg, _prepared(data))


@task(name="train")  # no retries: a re-run resumes from the last checkpoint instead
def train_task(cfg: PipelineConfig, data: dict[str, Any], base_ref: str, log_dir: str) -> dict[str, Any]:
    """Train + evaluate inside one MLflow run; registration is left to register_task."""
    from prefect import get_run_logger

    from tasks.training.callbacks import RunLogSummaryCallback
    from tasks.training.run import run_training

    no_register = cfg.model_copy(update={"mlflow": cfg.mlflow.model_copy(update={"register_model": False})})
    summaries = RunLogSummaryCallback(get_run_logger(), every_steps=max(1, cfg.train.max_steps // 10))
    return run_training(no_register, Settings(), Path(log_dir), data=_prepared(data), base_ref=base_ref,
                        callbacks=[summaries]).to_dict()


@task(name="register", retries=2, retry_delay_seconds=[2, 10])  # safe: registration is idempotent per run
def register_task(cfg: PipelineConfig, outcome: dict[str, Any]) -> dict[str, Any]:
    """Register a train_task outcome; returns it with model_name and version filled in."""
    from tasks.training.run import TrainingOutcome, register_outcome

    return register_outcome(cfg, TrainingOutcome(**outcome)).to_dict()
