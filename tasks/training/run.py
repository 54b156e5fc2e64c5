"""The training step end to end: data -> base model -> QLoRA training + evaluation inside one
MLflow run -> artifacts -> registered version with alias `candidate`.

A re-run of the same `train.run_name` resumes from its last checkpoint and continues the same
MLflow run when that run did not finish.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from configs.errors import TrainingError
from configs.pipeline import PipelineConfig
from configs.settings import Settings
from tasks.training.data import PreparedData, prepare_data, read_jsonl


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    adapter_dir: str
    model_name: str | None
    version: str | None
    base_model: str
    metrics: dict[str, float]
    global_step: int
    resumed_from_step: int | None
    adapter_uri: str = ""
    base_model_uri: str | None = None
    merged_uri: str | None = None
    dataset_sha256: str = ""
    git_commit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_base_model(cfg: PipelineConfig, data: PreparedData) -> str:
    """The `from_pretrained` reference: the tiny model built (once) from the training rows, or
    the configured hub id / folder."""
    from tasks.training.base_model import base_model_ref, build_tiny_model

    if cfg.model.tiny is None:
        if cfg.model.is_local_path and not Path(cfg.model.name_or_path).is_dir():
            raise TrainingError(f"model.name_or_path {cfg.model.name_or_path} is not a folder")
        return base_model_ref(cfg.model, None)
    rows, _ = read_jsonl(data.train_path, "error")
    corpus = [m["content"] for msgs in rows for m in msgs]
    return str(build_tiny_model(cfg.model.tiny, corpus, data.sha256, cfg.paths.models_dir))


def run_training(cfg: PipelineConfig, settings: Settings, log_dir: Path, *, callbacks: Sequence[Any] = (),
                 data: PreparedData | None = None, base_ref: str | None = None) -> TrainingOutcome:
    import mlflow

    from logging_lib import bind_context
    from tasks.registry.versions import client_for
    from tasks.training.tracking import MetricsSink, ensure_experiment, git_commit
    from tasks.training.trainer import plot_loss_curve, train

    data = data or prepare_data(cfg.data, cfg.paths.datasets_dir)
    if data.n_skipped:
        print(f"note: {data.n_skipped} bad dataset rows skipped (data.on_bad_row: skip)")
    base_ref = base_ref or build_base_model(cfg, data)
    run_dir = cfg.paths.runs_dir / cfg.train.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    uri = str(cfg.mlflow.tracking_uri)
    client = client_for(uri)
    exp_id = ensure_experiment(client, cfg.mlflow.experiment_name, str(cfg.mlflow.artifact_location))
    run_id = _resumable_run(client, run_dir, exp_id) if cfg.train.resume else None
    mlflow.set_tracking_uri(uri)
    if cfg.mlflow.log_system_metrics:
        mlflow.system_metrics.set_system_metrics_sampling_interval(cfg.mlflow.system_metrics_interval_s)
    commit = git_commit()
    with mlflow.start_run(run_id=run_id, experiment_id=None if run_id else exp_id, run_name=cfg.train.run_name,
                          log_system_metrics=cfg.mlflow.log_system_metrics) as run:
        run_id = run.info.run_id
        (run_dir / "mlflow_run.json").write_text(json.dumps({"run_id": run_id, "tracking_uri": uri}))
        if not run.data.params:
            client.log_batch(run_id, params=_params(cfg.flat_params()))
        mlflow.set_tags({"dataset_sha256": data.sha256, "git_commit": commit, "base_model": base_ref,
                         "run_name": cfg.train.run_name})
        resolved_yaml = run_dir / "resolved_config.yaml"
        resolved_yaml.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        mlflow.log_artifact(str(resolved_yaml), "config")
        with bind_context(mlflow_run_id=run_id):
            result = train(cfg, base_ref, data, run_dir, log_dir, token=settings.hf_token_value(),
                           metrics_sink=MetricsSink(client, run_id), callbacks=callbacks)
        png = plot_loss_curve(result.loss_history, run_dir / "loss_curve.png", f"{cfg.train.run_name}: training loss")
        mlflow.log_artifact(str(png), "plots")
        mlflow.log_artifact(str(run_dir / "train_result.json"))
        mlflow.log_artifacts(str(result.adapter_dir), "adapter")
        _log_tokenizer(result.adapter_dir)
        base_uri = None
        if cfg.model.tiny is not None and cfg.mlflow.log_base_model:
            mlflow.log_artifacts(base_ref, "base_model")
            base_uri = f"{run.info.artifact_uri}/base_model"
        merged_uri = None
        if cfg.mlflow.register_merged:
            merged = merge_adapter(base_ref, result.adapter_dir, run_dir / "merged", cfg, settings.hf_token_value())
            mlflow.log_artifacts(str(merged), "merged")
            merged_uri = f"{run.info.artifact_uri}/merged"
        metrics = {**(result.before.metrics("base_") if result.before else {}), **result.after.metrics("final_"),
                   "train_loss": result.train_loss}
        mlflow.log_metrics(metrics, step=result.global_step)
        outcome = TrainingOutcome(
            run_id=run_id, adapter_dir=str(result.adapter_dir), model_name=None, version=None, base_model=base_ref,
            metrics=metrics, global_step=result.global_step, resumed_from_step=result.resumed_from_step,
            adapter_uri=f"{run.info.artifact_uri}/adapter", base_model_uri=base_uri, merged_uri=merged_uri,
            dataset_sha256=data.sha256, git_commit=commit)
        if cfg.mlflow.register_model:
            outcome = register_outcome(cfg, outcome)
            mlflow.set_tag("registered_version", outcome.version)
    return outcome


def register_outcome(cfg: PipelineConfig, outcome: TrainingOutcome) -> TrainingOutcome:
    """Register the run's adapter as a new version (tags: what deployment needs), alias `candidate`."""
    from dataclasses import replace

    from tasks.registry.versions import register_adapter

    tags = {"base_model": outcome.base_model, "base_model_uri": outcome.base_model_uri,
            "adapter_uri": outcome.adapter_uri, "adapter_path": outcome.adapter_dir, "lora_rank": cfg.lora.r,
            "lora_alpha": cfg.lora.alpha,
            "quantization": cfg.model.quantization.quant_type if cfg.model.quantization.enabled else "none",
            "dataset_sha256": outcome.dataset_sha256, "git_commit": outcome.git_commit, "merged_uri": outcome.merged_uri,
            "max_seq_len": cfg.model.max_seq_len, **{k: f"{v:.6g}" for k, v in outcome.metrics.items()}}
    version = register_adapter(str(cfg.mlflow.tracking_uri), cfg.mlflow.registered_model_name, outcome.run_id,
                               outcome.adapter_uri, tags, alias=cfg.mlflow.candidate_alias,
                               description=f"run {cfg.train.run_name}, step {outcome.global_step}")
    return replace(outcome, model_name=cfg.mlflow.registered_model_name, version=version)


def _log_tokenizer(adapter_dir: Path) -> None:
    import mlflow

    for f in sorted(adapter_dir.iterdir()):
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            mlflow.log_artifact(str(f), "tokenizer")


def _params(flat: dict[str, str]):
    from mlflow.entities import Param

    return [Param(k, v[:6000]) for k, v in flat.items()]


def _resumable_run(client, run_dir: Path, exp_id: str) -> str | None:
    """The MLflow run of an unfinished earlier attempt of this run folder, if any."""
    from mlflow.exceptions import MlflowException

    marker = run_dir / "mlflow_run.json"
    if not marker.exists():
        return None
    try:
        run_id = json.loads(marker.read_text())["run_id"]
        run = client.get_run(run_id)
    except (ValueError, KeyError, MlflowException):
        return None
    if run.info.experiment_id != exp_id or run.info.status == "FINISHED":
        return None
    return run_id


def merge_adapter(base_ref: str, adapter_dir: Path, out_dir: Path, cfg: PipelineConfig, token: str | None) -> Path:
    """Base (unquantized, `model.dtype`) + adapter merged into one folder, tokenizer included."""
    import shutil

    from peft import PeftModel

    from tasks.training.base_model import save_tokenizer
    from tasks.training.trainer import load_base_model, load_tokenizer

    base = load_base_model(base_ref, cfg.model, token, quantize=False)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    merged.save_pretrained(out_dir)
    save_tokenizer(load_tokenizer(str(adapter_dir), cfg.model), out_dir)
    return out_dir

