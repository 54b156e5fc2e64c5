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


def test_serving_gateway_url_is_checked_like_other_urls() -> None:
    assert ServingConfig().gateway_url is None
    assert ServingConfig(gateway_url="http://gateway:8080/").gateway_url == "http://gateway:8080"
    for bad in ("gateway:8080", "http://", "http://u:p@gw:8080", "http://gw:8080?x=1"):
        with pytest.raises(ValidationError, match="serving.gateway_url"):
            ServingConfig(gateway_url=bad)


def test_the_benchmark_key_is_its_own_variable_else_the_first_gateway_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_GATEWAY_API_KEY", "MLOPS_GATEWAY_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    assert GatewaySettings().client_key() is None
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEYS", " k-first , k-second")
    assert GatewaySettings().client_key() == "k-first"
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEY", "k-own")
    settings = GatewaySettings()
    assert settings.client_key() == "k-own" and settings.key_list() == ("k-first", "k-second")
    assert "k-own" not in repr(settings) and "k-own" not in str(settings.model_dump())
    monkeypatch.setenv("MLOPS_GATEWAY_API_KEY", " ")  # blank: as if unset
    assert GatewaySettings().client_key() == "k-first"


def test_benchmark_defaults_and_slos() -> None:
    cfg = BenchmarkConfig(goodput_ttft_ms=200)
    assert math.isinf(cfg.request_rate) and cfg.goodput_slos_ms() == {"ttft": 200}
    with pytest.raises(ValidationError, match="percentiles"):
        BenchmarkConfig(percentiles=(0.0,))
