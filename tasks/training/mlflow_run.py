"""The training step inside one MLflow run: open (or continue) the run, log its inputs, train,
log its artifacts, and hand back the outcome; registration (alias `candidate`) is a separate
step, `register_outcome`.

A re-run of the same `train.run_name` resumes from its last checkpoint and continues the same
MLflow run when that run did not finish.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from configs.pipeline import PipelineConfig
from configs.settings import Settings
from tasks.training.data import PreparedData, prepare_data


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
    eval_items_uri: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _RunInputs:
    """What one training run is made of; tagged on the MLflow run and carried into the outcome."""

    data: PreparedData
    base_ref: str
    run_dir: Path
    git_commit: str


def run_training(cfg: PipelineConfig, settings: Settings, log_dir: Path, *, callbacks: Sequence[Any] = (),
                 data: PreparedData | None = None, base_ref: str | None = None) -> TrainingOutcome:
    """Data (prepared unless given) -> base (built unless given) -> one tracked, trained run; the
    adapter is registered too when `mlflow.register_model` is on."""
    import mlflow

    from logging_lib import bind_context
    from tasks.training.base_model import build_base_model
    from tasks.training.recipe import train
    from tasks.training.tracking import MetricsSink, git_commit

    data = data or prepare_data(cfg.data, cfg.paths.datasets_dir)
    if data.n_skipped:
        print(f"note: {data.n_skipped} bad dataset rows skipped (data.on_bad_row: skip)")
    base_ref = base_ref or build_base_model(cfg, data)
    run_dir = cfg.paths.runs_dir / cfg.train.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    client, run_id, exp_id = _open_tracking(cfg, run_dir)
    inputs = _RunInputs(data=data, base_ref=base_ref, run_dir=run_dir, git_commit=git_commit())
    with mlflow.start_run(run_id=run_id, experiment_id=None if run_id else exp_id, run_name=cfg.train.run_name,
                          log_system_metrics=cfg.mlflow.log_system_metrics) as run:
        _log_inputs(cfg, client=client, run=run, inputs=inputs)
        with bind_context(mlflow_run_id=run.info.run_id):
            result = train(cfg, base_ref=base_ref, data=data, run_dir=run_dir, log_dir=log_dir,
                           token=settings.hf_token_value(), metrics_sink=MetricsSink(client, run.info.run_id),
                           callbacks=callbacks)
        outcome = _log_outcome(cfg, client=client, run=run, inputs=inputs, result=result,
                               token=settings.hf_token_value())
        if cfg.mlflow.register_model:
            outcome = register_outcome(cfg, outcome)
            mlflow.set_tag("registered_version", outcome.version)
    return outcome


def train_without_registering(cfg: PipelineConfig, settings: Settings, log_dir: Path, *, data: PreparedData,
                              base_ref: str, run_logger: Any) -> TrainingOutcome:
    """The flow's train step: registration is left to its own (retryable) step, and `run_logger`
    (the Prefect run log) gets a step summary about ten times per run."""
    from tasks.training.callbacks import RunLogSummaryCallback

    no_register = cfg.model_copy(update={"mlflow": cfg.mlflow.model_copy(update={"register_model": False})})
    run_dir = cfg.paths.runs_dir / cfg.train.run_name
    done = _finished_attempt(cfg, run_dir) if cfg.train.resume else None
    if done is not None:
        run_logger.info("an earlier attempt of this run finished training (MLflow run %s); reusing it, not "
                        "training again", done.run_id)
        return done
    summaries = RunLogSummaryCallback(run_logger, every_steps=max(1, cfg.train.max_steps // 10))
    outcome = run_training(no_register, settings, log_dir, data=data, base_ref=base_ref, callbacks=[summaries])
    (run_dir / OUTCOME_FILE).write_text(json.dumps(outcome.to_dict()))
    return outcome


OUTCOME_FILE = "training_outcome.json"


def _finished_attempt(cfg: PipelineConfig, run_dir: Path) -> TrainingOutcome | None:
    """The outcome of an earlier attempt of this flow run (its run folder) whose training
    finished, e.g. one whose worker died after training: a retry then registers and serves that
    run's adapter (registration finds the version it already made) instead of training a second
    run and registering a second version."""
    from mlflow.exceptions import MlflowException

    from tasks.registry.versions import client_for

    path = run_dir / OUTCOME_FILE
    if not path.exists():
        return None
    try:
        outcome = TrainingOutcome(**json.loads(path.read_text()))
        run = client_for(str(cfg.mlflow.tracking_uri)).get_run(outcome.run_id)
    except (ValueError, TypeError, MlflowException):
        return None
    if run.info.status != "FINISHED" or not Path(outcome.adapter_dir).exists():
        return None
    return outcome


def register_outcome(cfg: PipelineConfig, outcome: TrainingOutcome) -> TrainingOutcome:
    """Register the run's adapter as a new version (tags: what deployment needs), alias `candidate`."""
    from tasks.registry.versions import register_adapter

    tags = {"base_model": outcome.base_model, "base_model_uri": outcome.base_model_uri,
            "adapter_uri": outcome.adapter_uri, "adapter_path": outcome.adapter_dir, "lora_rank": cfg.lora.r,
            "lora_alpha": cfg.lora.alpha,
            "quantization": cfg.model.quantization.quant_type if cfg.model.quantization.enabled else "none",
            "dataset_sha256": outcome.dataset_sha256, "git_commit": outcome.git_commit, "merged_uri": outcome.merged_uri,
            "max_seq_len": cfg.model.max_seq_len, "eval_items_uri": outcome.eval_items_uri or None,
            **{k: f"{v:.6g}" for k, v in outcome.metrics.items()}}
    version = register_adapter(str(cfg.mlflow.tracking_uri), cfg.mlflow.registered_model_name, outcome.run_id,
                               outcome.adapter_uri, tags, alias=cfg.mlflow.candidate_alias,
                               description=f"run {cfg.train.run_name}, step {outcome.global_step}")
    return replace(outcome, model_name=cfg.mlflow.registered_model_name, version=version)


def _open_tracking(cfg: PipelineConfig, run_dir: Path) -> tuple[Any, str | None, str]:
    """The MLflow client, the unfinished run to continue (if any) and the experiment id; points
    mlflow's fluent API at our store and sets the system-metrics interval."""
    import mlflow

    from tasks.registry.versions import client_for
    from tasks.training.tracking import ensure_experiment

    uri = str(cfg.mlflow.tracking_uri)
    client = client_for(uri)
    exp_id = ensure_experiment(client, cfg.mlflow.experiment_name, str(cfg.mlflow.artifact_location))
    run_id = _resumable_run(client, run_dir, exp_id) if cfg.train.resume else None
    mlflow.set_tracking_uri(uri)
    if cfg.mlflow.log_system_metrics:
        mlflow.system_metrics.set_system_metrics_sampling_interval(cfg.mlflow.system_metrics_interval_s)
    return client, run_id, exp_id


def _log_inputs(cfg: PipelineConfig, *, client: Any, run: Any, inputs: _RunInputs) -> None:
    """The run marker (for resuming), params (once per run), tags, the split's sizes and
    disjointness (`data_eval_prompt_overlap` must be 0) and the resolved config."""
    import mlflow

    run_id = run.info.run_id
    marker = {"run_id": run_id, "tracking_uri": str(cfg.mlflow.tracking_uri)}
    (inputs.run_dir / "mlflow_run.json").write_text(json.dumps(marker))
    if not run.data.params:
        client.log_batch(run_id, params=_params(cfg.flat_params()))
    mlflow.set_tags({"dataset_sha256": inputs.data.sha256, "git_commit": inputs.git_commit,
                     "base_model": inputs.base_ref, "run_name": cfg.train.run_name})
    data = inputs.data
    mlflow.log_metrics({"data_n_train": data.n_train, "data_n_eval": data.n_eval,
                        "data_eval_prompt_overlap": data.n_prompt_overlap,
                        "data_eval_overlap_dropped": data.n_overlap_dropped}, step=0)
    resolved_yaml = inputs.run_dir / "resolved_config.yaml"
    resolved_yaml.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    mlflow.log_artifact(str(resolved_yaml), "config")


def _log_outcome(cfg: PipelineConfig, *, client: Any, run: Any, inputs: _RunInputs, result: Any,
                 token: str | None) -> TrainingOutcome:
    """Artifacts (plot, result, eval items, adapter with its model card, tokenizer, optional base
    and merged model) and the final metrics; returns the (unregistered) outcome."""
    import mlflow

    from tasks.training.recipe import EVAL_ITEMS_FILE
    from tasks.training.tracking import log_eval_items, plot_loss_curve

    run_dir, base_ref, root = inputs.run_dir, inputs.base_ref, run.info.artifact_uri
    png = plot_loss_curve(result.loss_history, run_dir / "loss_curve.png", f"{cfg.train.run_name}: training loss")
    mlflow.log_artifact(str(png), "plots")
    mlflow.log_artifact(str(run_dir / "train_result.json"))
    items_uri = log_eval_items(client, run.info.run_id, run_dir / EVAL_ITEMS_FILE, artifact_uri=root)
    mlflow.log_artifacts(str(result.adapter_dir), "adapter")
    _log_tokenizer(result.adapter_dir)
    base_uri = _log_base_model(cfg, base_ref, root)
    merged_uri = _log_merged(cfg, base_ref, result.adapter_dir, run_dir, root, token=token)
    metrics = {**(result.before.metrics("base_") if result.before else {}), **result.after.metrics("final_"),
               "train_loss": result.train_loss}
    mlflow.log_metrics(metrics, step=result.global_step)
    return TrainingOutcome(
        run_id=run.info.run_id, adapter_dir=str(result.adapter_dir), model_name=None, version=None,
        base_model=base_ref, metrics=metrics, global_step=result.global_step,
        resumed_from_step=result.resumed_from_step, adapter_uri=f"{root}/adapter", base_model_uri=base_uri,
        merged_uri=merged_uri, dataset_sha256=inputs.data.sha256, git_commit=inputs.git_commit,
        eval_items_uri=items_uri)


def _log_base_model(cfg: PipelineConfig, base_ref: str, artifact_root: str) -> str | None:
    """A tiny base is built here, so it travels with the run (a hub base is fetched by id)."""
    import mlflow

    if cfg.model.tiny is None or not cfg.mlflow.log_base_model:
        return None
    mlflow.log_artifacts(base_ref, "base_model")
    return f"{artifact_root}/base_model"


def _log_merged(cfg: PipelineConfig, base_ref: str, adapter_dir: Path, run_dir: Path, artifact_root: str, *,
                token: str | None) -> str | None:
    import mlflow

    from tasks.training.model_setup import merge_adapter

    if not cfg.mlflow.register_merged:
        return None
    merged = merge_adapter(base_ref, adapter_dir, run_dir / "merged", cfg, token)
    mlflow.log_artifacts(str(merged), "merged")
    return f"{artifact_root}/merged"


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
