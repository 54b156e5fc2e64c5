"""Secrets, read from the environment only (never YAML, logs or MLflow params).

    HF_TOKEN                       private hub models
    MLFLOW_TRACKING_USERNAME/PASSWORD  a remote MLflow server with basic auth
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, MLFLOW_S3_ENDPOINT_URL  S3 artifact store

MLflow and boto3 read their variables from the environment themselves; they are declared
here so an entry point can check and report them without printing the values.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    hf_token: SecretStr | None = None
    mlflow_tracking_username: str | None = None
    mlflow_tracking_password: SecretStr | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    mlflow_s3_endpoint_url: str | None = None

    def hf_token_value(self) -> str | None:
        return self.hf_token.get_secret_value() if self.hf_token else None
