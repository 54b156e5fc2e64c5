"""The GPU path: QLoRA with the production settings (bf16 compute, paged AdamW, gradient
checkpointing) on CUDA; logs carry GPU memory. Skipped without a GPU."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.gpu]


def test_qlora_on_gpu_with_production_settings(tmp_path):
    import torch

    from configs.loader import load_config
    from configs.settings import Settings
    from tasks.training.mlflow_run import run_training

    cfg = load_config(REPO_ROOT / "configs" / "tiny.yaml", [
        f"paths.data_dir={tmp_path}", "train.bf16=true", "train.optimizer=paged_adamw_32bit",
        "train.gradient_checkpointing=true", "model.dtype=bfloat16", "mlflow.log_system_metrics=true"])
    torch.cuda.reset_peak_memory_stats()
    out = run_training(cfg, Settings(), tmp_path / "logs")
    peak_mib = torch.cuda.max_memory_allocated() / 2**20
    result = json.loads((tmp_path / "runs" / "local" / "train_result.json").read_text())
    step_s = result["train_runtime_s"] / max(1, out.global_step - (out.resumed_from_step or 0))
    print(f"GPU: {torch.cuda.get_device_name()} steps={out.global_step} step_s={step_s:.3f} "
          f"loss {result['loss_history'][0][1]:.3f}->{result['loss_history'][-1][1]:.3f} peak_gpu_mib={peak_mib:.0f}")
    assert out.metrics["final_exact_match"] > out.metrics["base_exact_match"]
    steps = [json.loads(line) for f in (tmp_path / "logs" / "training").glob("*.log")
             for line in f.read_text().splitlines() if '"training_step"' in line]
    assert steps and all(s["gpu_memory_used"] is not None and s["gpu_memory_total"] for s in steps)
