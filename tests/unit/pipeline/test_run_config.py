"""Run names: unique per flow run, stable for its retries."""

from __future__ import annotations

import pytest

from configs.loader import load_config
from tests.conftest import REPO_ROOT


@pytest.fixture
def cfg(tmp_path):
    return load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])


def test_run_name_is_unique_per_flow_run_and_stable_for_its_retries(cfg):
    from tasks.pipeline.run_config import with_run_name

    a, b = with_run_name(cfg, "brave-otter"), with_run_name(cfg, "calm heron!")
    assert a.train.run_name == "local-brave-otter" and b.train.run_name == "local-calm-heron"
    assert with_run_name(cfg, "brave-otter").train.run_name == a.train.run_name
    assert with_run_name(cfg, None) is cfg
