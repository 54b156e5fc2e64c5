"""The `retention` config section: how old logs are archived, where they go, how long backups stay.

    retention:
      retention_days: 7                  # archive log files last modified before this
      destination: s3://my-bucket/logs   # or prefect://s3-bucket/BLOCK (a prefect-aws S3Bucket block),
                                         # or file:///srv/backups/logs; default: <data dir>/backups/logs
      keep_backups_days: 90              # prune archives of logs older than this (omit: keep all)

Credentials are never part of this section: boto3 reads the standard AWS variables
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for MinIO, Ceph, moto) itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DATA_DIR_ENV = "MLOPS_DATA_DIR"
DEFAULT_LOG_TYPES = ("training", "inference", "system", "api", "vllm")


def default_data_dir() -> Path:
    """$MLOPS_DATA_DIR, else `data/` in the project checkout (never relative to the cwd)."""
    raw = os.environ.get(DATA_DIR_ENV)
    if raw:
        return Path(raw).expanduser().resolve()
    return Path(__file__).resolve().parents[1] / "data"


def default_destination() -> str:
    """The embedded default when no S3 is configured: a local folder under the data dir."""
    return (default_data_dir() / "backups" / "logs").as_uri()


def check_destination_url(url: str) -> str:
    """`s3://bucket[/prefix]` or `file:///absolute/path`; anything else is a ConfigError-worthy value."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"destination {url!r} names no bucket; write s3://BUCKET/PREFIX")
        if parsed.query or parsed.fragment or "@" in parsed.netloc:
            raise ValueError(f"destination {url!r}: write s3://BUCKET/PREFIX with no credentials, query or fragment "
                             "(credentials come from the standard AWS environment variables)")
        return url
    if parsed.scheme == "prefect":
        if parsed.netloc != "s3-bucket" or not parsed.path.strip("/") or "/" in parsed.path.strip("/"):
            raise ValueError(f"destination {url!r}: name a prefect-aws S3Bucket block as prefect://s3-bucket/BLOCK_NAME")
        return url
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ValueError(f"destination {url!r} must be an absolute local path: file:///ABSOLUTE/PATH")
        return url
    raise ValueError(f"destination {url!r} has an unsupported scheme; use s3://BUCKET/PREFIX, "
                     "prefect://s3-bucket/BLOCK_NAME or file:///ABSOLUTE/PATH")


class RetentionConfig(BaseModel):
    """Archive-then-delete policy for the JSON-line logs (see docs/housekeeping.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_days: float = Field(7.0, gt=0, description="Log files last modified more than this many days ago "
                                                         "are archived, uploaded, verified and then deleted.")
    log_types: tuple[str, ...] = Field(DEFAULT_LOG_TYPES, min_length=1,
                                       description="Sub-folders of the log dir to archive (a missing one is skipped).")
    destination: str | None = Field(None, description="s3://BUCKET/PREFIX, prefect://s3-bucket/BLOCK_NAME or "
                                                      "file:///ABSOLUTE/PATH; "
                                                      "empty: a local folder under the project's data dir.")
    keep_backups_days: float | None = Field(None, gt=0, description="Delete archives whose logs are older than this "
                                                                     "many days from the destination; empty: keep all.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph); empty: boto3's "
                                                          "default, which honours AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="'path' for most S3-compatible stores on a plain host:port.")
    compress_level: int = Field(6, ge=1, le=9, description="gzip level of the archives (6 is `tar czf`'s).")
    retry_attempts: int = Field(4, ge=1, le=20, description="Tries per S3 call on transient (network, 5xx) errors.")
    retry_backoff_s: float = Field(1.0, ge=0, description="First wait between tries; doubles each time.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout of each S3 call.")

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        return check_destination_url(value)

    @field_validator("log_types")
    @classmethod
    def _log_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"log type {name!r} must be a plain folder name such as 'training'")
        if len(set(value)) != len(value):
            raise ValueError(f"log_types lists a folder twice: {list(value)}")
        return value

    @model_validator(mode="after")
    def _backups_outlive_logs(self) -> RetentionConfig:
        if self.keep_backups_days is not None and self.keep_backups_days < self.retention_days:
            raise ValueError(f"keep_backups_days ({self.keep_backups_days}) is shorter than retention_days "
                             f"({self.retention_days}): archives would be pruned before their logs are even archived")
        return self

    def destination_url(self) -> str:
        """The configured destination, or the embedded local default (resolved at the entry point)."""
        return self.destination or default_destination()
