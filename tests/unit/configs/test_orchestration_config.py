"""The orchestration section: the gpu slot's limit name and lease, and errors that name the field."""

from __future__ import annotations

import pytest

from configs.errors import ConfigError
from configs.loader import load_config
from tests.conftest import TINY_CONFIG


def test_a_pipeline_takes_the_gpu_limit_by_default_and_none_turns_it_off():
    cfg = load_config(TINY_CONFIG)
    assert cfg.orchestration.gpu_limit == "gpu" and cfg.orchestration.gpu_lease_s == 120
    off = load_config(TINY_CONFIG, ["orchestration.gpu_limit=null", "orchestration.gpu_lease_s=600"])
    assert off.orchestration.gpu_limit is None and off.orchestration.gpu_lease_s == 600


@pytest.mark.parametrize("override, field", [
    ("orchestration.gpu_lease_s=30", "orchestration.gpu_lease_s"),   # Prefect's server refuses leases under 60 s
    ("orchestration.gpu_limit=''", "orchestration.gpu_limit"),
    ("orchestration.gpu_slots=2", "orchestration.gpu_slots"),
])
def test_a_bad_value_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(TINY_CONFIG, [override])
