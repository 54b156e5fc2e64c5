"""The retention and gpu_sampling config sections: defaults, and errors that name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from configs.retention import RetentionConfig, default_destination
from configs.sampling import GPUSamplingConfig


def test_defaults_keep_a_week_and_back_up_under_the_data_dir_not_the_cwd(monkeypatch, tmp_path):
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    config = RetentionConfig()
    assert config.retention_days == 7 and "vllm" in config.log_types
    url = config.destination_url()
    assert url == (Path(__file__).resolve().parents[3] / "data" / "backups" / "logs").as_uri()
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "d"))
    assert default_destination() == (tmp_path / "d" / "backups" / "logs").as_uri()


@pytest.mark.parametrize("url, fragment", [
    ("ftp://host/x", "unsupported scheme"),
    ("s3:///prefix", "names no bucket"),
    ("s3://AKIA:secret@bucket/x", "no credentials"),
    ("file://relative/path", "absolute local path"),
    ("prefect://gcs-bucket/backups", "prefect://s3-bucket/BLOCK_NAME"),
    ("prefect://s3-bucket/", "prefect://s3-bucket/BLOCK_NAME"),
])
def test_bad_destination_url_is_refused_with_the_right_form(url, fragment):
    with pytest.raises(ValidationError, match=fragment):
        RetentionConfig(destination=url)


def test_accepts_s3_and_file_urls():
    assert RetentionConfig(destination="s3://bucket/a/b").destination_url() == "s3://bucket/a/b"
    assert RetentionConfig(destination="file:///srv/backups").destination_url() == "file:///srv/backups"
    assert RetentionConfig(destination="prefect://s3-bucket/nightly").destination_url() == "prefect://s3-bucket/nightly"


def test_unknown_fields_and_nonsense_values_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        RetentionConfig(retention=7)  # a typo of retention_days
    with pytest.raises(ValidationError, match="greater than 0"):
        RetentionConfig(retention_days=0)
    with pytest.raises(ValidationError, match="pruned before their logs are even archived"):
        RetentionConfig(retention_days=30, keep_backups_days=7)
    with pytest.raises(ValidationError, match="plain folder name"):
        RetentionConfig(log_types=("training", "../etc"))


def test_sections_are_frozen():
    with pytest.raises(ValidationError):
        RetentionConfig().retention_days = 1  # type: ignore[misc]


def test_sampling_window_must_hold_one_interval():
    assert GPUSamplingConfig().sample_interval_s == 10
    with pytest.raises(ValidationError, match="at least one interval"):
        GPUSamplingConfig(sample_interval_s=60, window_s=30)
    with pytest.raises(ValidationError, match="extra"):
        GPUSamplingConfig(interval=5)
