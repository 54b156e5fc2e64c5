"""Where the serving section is silent, vLLM serves what was trained (length and dtype)."""

from __future__ import annotations

from pathlib import Path

from configs.loader import load_config
from configs.pipeline import PipelineConfig
from configs.serving import ServingConfig
from tasks.serving import ServeTarget, build_command

REPO = Path(__file__).resolve().parents[3]
TARGET = ServeTarget("bot", "org/base", "bot-base")


def _flag(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def test_gpu_config_serves_at_the_trained_length_and_dtype() -> None:
    cfg = load_config(REPO / "configs" / "llama3_8b_qlora_gpu.yaml")
    assert cfg.model.max_seq_len == 1024
    cmd = build_command(TARGET, cfg.serving, 8000)
    assert _flag(cmd, "--max-model-len") == "1024" and _flag(cmd, "--dtype") == "bfloat16"


def test_silent_fields_follow_the_model_and_explicit_ones_win() -> None:
    base = {"model": {"name_or_path": "org/base", "max_seq_len": 2048, "dtype": "float16"}, "data": {"path": "/d.jsonl"}}
    cfg = PipelineConfig.model_validate(base)
    assert (cfg.serving.max_model_len, cfg.serving.dtype) == (2048, "float16")
    cfg = PipelineConfig.model_validate({**base, "serving": {"max_model_len": 512}})
    assert (cfg.serving.max_model_len, cfg.serving.dtype) == (512, "float16")
    cfg = PipelineConfig.model_validate({**base, "serving": ServingConfig(dtype="bfloat16")})
    assert (cfg.serving.max_model_len, cfg.serving.dtype) == (2048, "bfloat16")
    local = load_config(REPO / "configs" / "local.yaml")   # says max_model_len 512 itself
    assert local.serving.max_model_len == 512 and local.serving.dtype == local.model.dtype


def test_standalone_serving_config_leaves_it_to_the_checkpoint() -> None:
    cmd = build_command(TARGET, ServingConfig(command=["vllm", "serve"]), 8000)
    assert _flag(cmd, "--dtype") == "auto" and "--max-model-len" not in cmd


def test_a_bad_model_value_is_reported_on_the_model_field_only() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        PipelineConfig.model_validate({"model": {"name_or_path": "org/base", "max_seq_len": -3, "dtype": "int3"},
                                       "data": {"path": "/d.jsonl"}})
    assert sorted(".".join(map(str, e["loc"])) for e in info.value.errors()) == ["model.dtype", "model.max_seq_len"]
