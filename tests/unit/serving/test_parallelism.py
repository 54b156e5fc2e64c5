"""Tensor and pipeline parallelism reach vLLM's command line only when asked for, set in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.errors import ConfigError
from configs.loader import load_config
from configs.serving import ServingConfig
from tasks.serving import ServeTarget, build_command

REPO = Path(__file__).resolve().parents[3]
GPU_CONFIG = REPO / "configs" / "llama3_8b_qlora_gpu.yaml"


def _target(tmp_path: Path) -> ServeTarget:
    return ServeTarget(model_path=str(tmp_path), served_name="bot-v1", base_name="bot-base")


def _flag(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def test_one_gpu_command_has_no_parallelism_flags(tmp_path: Path) -> None:
    cmd = build_command(_target(tmp_path), ServingConfig(command=["vllm", "serve"]), 8000)
    assert not any("parallel" in arg for arg in cmd), cmd


def test_tensor_and_pipeline_sizes_are_passed_to_vllm(tmp_path: Path) -> None:
    cfg = ServingConfig(command=["vllm", "serve"], tensor_parallel_size=4, pipeline_parallel_size=2,
                        extra_args=["--enforce-eager"])
    cmd = build_command(_target(tmp_path), cfg, 8000)
    assert _flag(cmd, "--tensor-parallel-size") == "4"
    assert _flag(cmd, "--pipeline-parallel-size") == "2"
    assert cmd[-1] == "--enforce-eager"                      # extra_args still last: a user's flag wins
    tp_only = build_command(_target(tmp_path), ServingConfig(command=["vllm", "serve"], tensor_parallel_size=2), 1)
    assert _flag(tp_only, "--tensor-parallel-size") == "2" and "--pipeline-parallel-size" not in tp_only


def test_the_gpu_config_takes_tensor_parallelism_from_an_override(tmp_path: Path) -> None:
    cfg = load_config(GPU_CONFIG, ["serving.tensor_parallel_size=2"])
    assert cfg.serving.tensor_parallel_size == 2
    assert _flag(build_command(_target(tmp_path), cfg.serving, 8000), "--tensor-parallel-size") == "2"


@pytest.mark.parametrize("override", ["serving.tensor_parallel_size=0", "serving.pipeline_parallel_size=-1"])
def test_sizes_below_one_are_refused_naming_the_field(override: str) -> None:
    field = override.split("=")[0]
    with pytest.raises(ConfigError, match=f"{field}: Input should be greater than or equal to 1"):
        load_config(GPU_CONFIG, [override])


@pytest.mark.parametrize("extra", [["--tensor-parallel-size", "2"], ["--pipeline-parallel-size=2"]])
def test_a_parallelism_flag_in_extra_args_is_refused_naming_the_field(extra: list[str]) -> None:
    with pytest.raises(ValueError, match=r"serving.extra_args sets --(tensor|pipeline)-parallel-size: "
                                         r"set serving.(tensor|pipeline)_parallel_size instead"):
        ServingConfig(extra_args=extra)
