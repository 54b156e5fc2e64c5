"""Serving, gateway, benchmark and promotion sections: strict, frozen, unit-named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from configs.benchmark import BenchmarkConfig
from configs.promotion import PromotionConfig
from configs.serving import GatewayConfig, GatewaySettings, ServingConfig, default_vllm_command


def test_unknown_fields_and_mutation_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ServingConfig(startup_timeout=10)                    # unit missing from the name
    with pytest.raises(ValidationError):
        BenchmarkConfig(num_prompts=0)
    cfg = PromotionConfig()
    with pytest.raises(ValidationError):
        cfg.max_p99_ttft_ms = 1  # type: ignore[misc]


def test_default_vllm_command_prefers_repo_cpu_build(tmp_path: Path) -> None:
    assert default_vllm_command(tmp_path) == ["vllm", "serve"]
    py = tmp_path / ".venv-vllm" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.touch()
    assert default_vllm_command(tmp_path) == [str(py), "-m", "vllm.entrypoints.openai.api_server"]


def test_gateway_url_and_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="http://"):
        GatewayConfig(backend_url="localhost:8000")
    assert GatewayConfig(backend_url="http://h:1/").backend_url == "http://h:1"
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEYS", "k-1x, k-2y ,")
    settings = GatewaySettings()
    assert settings.key_list() == ("k-1x", "k-2y") and "k-1x" not in repr(settings)
    monkeypatch.delenv("MLOPS_GATEWAY_API_KEYS")
    assert GatewaySettings().key_list() == ()


def test_benchmark_defaults_and_slos() -> None:
    cfg = BenchmarkConfig(goodput_ttft_ms=200)
    assert math.isinf(cfg.request_rate) and cfg.goodput_slos_ms() == {"ttft": 200}
    with pytest.raises(ValidationError, match="percentiles"):
        BenchmarkConfig(percentiles=(0.0,))
