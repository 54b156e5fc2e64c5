"""The production profile on one machine (`scripts/stack.sh`): ports, credentials, buckets.

Read from the environment only, as docker-compose reads deployments/.env: the same variable
names (POSTGRES_USER, POSTGRES_PASSWORD, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
MLFLOW_BUCKET, MLOPS_BACKUP_BUCKET, MLOPS_GATEWAY_API_KEYS, MLOPS_PIPELINE_CONFIG,
MLOPS_MODEL_REF). Secrets not set are generated once and kept in `<state dir>/stack.env`
(mode 600), so a restart reuses them. Ports default to the compose file's; each can be moved
(MLOPS_STACK_<SERVICE>_PORT) when another program holds it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

# Generated on first `up` when the environment does not set them (secrets only).
GENERATED = ("POSTGRES_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLOPS_GATEWAY_API_KEYS")


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    # --- compose's variables (deployments/.env.example) ---------------------------------------
    postgres_user: str = Field("mlops", pattern=r"^[a-z_][a-z0-9_]*$")
    postgres_password: SecretStr
    aws_access_key_id: SecretStr
    aws_secret_access_key: SecretStr
    aws_default_region: str = "us-east-1"
    mlflow_bucket: str = "mlflow"
    mlops_backup_bucket: str = "mlops-backups"
    mlops_gateway_api_keys: SecretStr
    mlops_pipeline_config: str = Field("configs/local.yaml", description="the deployments' config (compose: the GPU one)")
    mlops_model_ref: str = Field("models:/smollm2-extraction-lora@candidate", description="the on-demand form's model")
    # An S3 endpoint of your own (MinIO, Ceph, AWS): the stack then starts no moto server.
    aws_endpoint_url_s3: str | None = None

    # --- this profile's own -----------------------------------------------------------------
    mlops_stack_state_dir: Path = Field(REPO_ROOT / ".stack", description="Postgres data, pid files, stack.env")
    mlops_log_dir: Path = Field(REPO_ROOT / "logs", description="logs/<service>/ and the pipeline's typed logs")
    mlops_stack_workers: int = Field(2, ge=1, le=16, description="Prefect process workers on pool mlops-local")
    mlops_stack_postgres_port: int = Field(5432, ge=1, le=65535)
    mlops_stack_prefect_port: int = Field(4200, ge=1, le=65535)
    mlops_stack_mlflow_port: int = Field(5000, ge=1, le=65535)
    mlops_stack_s3_port: int = Field(9000, ge=1, le=65535)
    mlops_stack_vllm_port: int = Field(8000, ge=1, le=65535)
    mlops_stack_gateway_port: int = Field(8080, ge=1, le=65535)
    mlops_stack_start_timeout_s: float = Field(180.0, gt=0)

    @field_validator("mlops_stack_state_dir", "mlops_log_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return (value if value.is_absolute() else REPO_ROOT / value).resolve()

    @field_validator("postgres_password")
    @classmethod
    def _url_safe(cls, value: SecretStr) -> SecretStr:
        # it is part of connection URLs (compose has the same rule)
        if any(c in value.get_secret_value() for c in "@:/?#%[] "):
            raise ValueError("POSTGRES_PASSWORD must be URL-safe (hex or letters/digits, e.g. openssl rand -hex 24)")
        return value

    @property
    def gateway_keys(self) -> list[str]:
        return [k.strip() for k in self.mlops_gateway_api_keys.get_secret_value().split(",") if k.strip()]

    def db_url(self, database: str, driver: str = "postgresql") -> str:
        return (f"{driver}://{self.postgres_user}:{self.postgres_password.get_secret_value()}"
                f"@127.0.0.1:{self.mlops_stack_postgres_port}/{database}")

    @property
    def s3_endpoint(self) -> str:
        return self.aws_endpoint_url_s3 or f"http://127.0.0.1:{self.mlops_stack_s3_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.mlops_stack_prefect_port}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlops_stack_mlflow_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.mlops_stack_gateway_port}"

    @property
    def vllm_url(self) -> str:
        return f"http://127.0.0.1:{self.mlops_stack_vllm_port}"
