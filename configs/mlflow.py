"""`mlflow`: tracking store, experiment and Model Registry names.

With `tracking_uri: null` the store is `sqlite:///<data_dir>/mlflow/mlflow.db` and artifacts
go to `<data_dir>/mlflow/artifacts`; never the cwd-dependent `./mlruns`. A relative
`sqlite:///` path is resolved against the project root like every other path.
Credentials for a remote server (MLFLOW_TRACKING_USERNAME/PASSWORD, AWS keys for S3
artifacts) come from the environment (configs.settings), never from here.
"""

from __future__ import annotations

from pydantic import Field

from configs._base import Section


class MlflowConfig(Section):
    tracking_uri: str | None = Field(None, description="None: SQLite under paths.data_dir")
    artifact_location: str | None = Field(None, description="for a new experiment; None: <data_dir>/mlflow/artifacts")
    experiment_name: str = "qlora-finetune"
    registered_model_name: str = Field("tiny-chat-lora", pattern=r"^[A-Za-z0-9._-]+$")
    register_model: bool = Field(True, description="register the adapter as a new model version")
    candidate_alias: str = Field("candidate", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    register_merged: bool = Field(False, description="also save + log a merged full model (for engines without LoRA)")
    log_system_metrics: bool = True
    system_metrics_interval_s: float = Field(5.0, gt=0)
    log_base_model: bool = Field(True, description="log a locally built base model as an artifact too")
