"""PipelineConfig: the whole validated config, one attribute per section.

To add a section: write `configs/<section>.py` with a `Section` subclass and add one field
here (`serving: ServingConfig = ServingConfig()`). Path fields of any section are made
absolute against the project root by `resolved()`; nothing else is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, model_validator

from configs._base import Section
from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from configs.data import DataConfig
from configs.lora import LoraConfig
from configs.mlflow import MlflowConfig
from configs.model import Dtype, ModelConfig
from configs.orchestration import OrchestrationConfig
from configs.paths import PathsConfig
from configs.promotion import PromotionConfig
from configs.retention import RetentionConfig
from configs.sampling import GPUSamplingConfig
from configs.serving import GatewayConfig, ServingConfig
from configs.training import EvalConfig, TrainConfig


class PipelineConfig(Section):
    model: ModelConfig
    data: DataConfig
    lora: LoraConfig = LoraConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    mlflow: MlflowConfig = MlflowConfig()
    paths: PathsConfig = PathsConfig()
    serving: ServingConfig = ServingConfig()
    gateway: GatewayConfig = GatewayConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    # set (with at least one SLO): the pipeline also sweeps for the capacity at that SLO and
    # records it; the benchmark flow's `capacity_sweep` uses it. None: no sweep.
    capacity: CapacityConfig | None = None
    promotion: PromotionConfig = PromotionConfig()
    retention: RetentionConfig = RetentionConfig()
    gpu_sampling: GPUSamplingConfig = GPUSamplingConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()

    @model_validator(mode="before")
    @classmethod
    def _serving_follows_model(cls, data: Any) -> Any:
        """Where the serving section is silent, serve what was trained: vLLM's max_model_len is
        model.max_seq_len and its dtype model.dtype (not a fixed 512 after training at 1024)."""
        if not isinstance(data, dict) or "model" not in data:
            return data
        model = data["model"]
        model = model.model_dump() if isinstance(model, BaseModel) else model
        if not isinstance(model, dict):
            return data
        fields = ModelConfig.model_fields
        length = model.get("max_seq_len", fields["max_seq_len"].default)
        dtype = model.get("dtype", fields["dtype"].default)
        # a bad model value is reported once, on the model field, not again on serving's
        follow = {k: v for k, v in (("max_model_len", length), ("dtype", dtype))
                  if (isinstance(v, int) and not isinstance(v, bool) and v > 0) or v in get_args(Dtype)}
        serving = data.get("serving", {})
        if isinstance(serving, ServingConfig):
            missing = {k: v for k, v in follow.items() if getattr(serving, k) is None}
            return {**data, "serving": serving.model_copy(update=missing)} if missing else data
        if isinstance(serving, dict):
            return {**data, "serving": {**{k: v for k, v in follow.items() if serving.get(k) is None}, **{
                k: v for k, v in serving.items() if not (k in follow and v is None)}}}
        return data

    def resolved(self, root: Path) -> PipelineConfig:
        """A copy with every relative path made absolute against `root` and the MLflow
        defaults (SQLite store + artifact folder under data_dir) filled in."""
        root = Path(root).expanduser().resolve()
        cfg: PipelineConfig = _resolve_model(self, root)
        updates: dict[str, Any] = {}
        if cfg.model.is_local_path:
            updates["model"] = cfg.model.model_copy(update={"name_or_path": str(_abs(Path(cfg.model.name_or_path), root))})
        ml = cfg.mlflow
        uri = ml.tracking_uri or f"sqlite:///{cfg.paths.mlflow_dir / 'mlflow.db'}"
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = f"sqlite:///{_abs(Path(uri[len('sqlite:///'):]), root)}"
        art = ml.artifact_location or str(cfg.paths.mlflow_dir / "artifacts")
        if "://" not in art:
            art = str(_abs(Path(art), root))
        updates["mlflow"] = ml.model_copy(update={"tracking_uri": uri, "artifact_location": art})
        return cfg.model_copy(update=updates)

    def flat_params(self) -> dict[str, str]:
        """The config flattened to `section.field` -> string (MLflow params). No secrets live here."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = "null" if value is None else str(value)

        walk("", self.model_dump(mode="json"))
        return out


def _abs(path: Path, root: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def _resolve_model(model: BaseModel, root: Path) -> Any:
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            updates[name] = _abs(value, root)
        elif isinstance(value, BaseModel):
            updates[name] = _resolve_model(value, root)
    return model.model_copy(update=updates) if updates else model
