"""Crash and resume, plain LoRA, and the errors the training step promises."""

from __future__ import annotations

import json

import pytest

from configs.errors import TrainingError
from tests.conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.integration
LOCAL = REPO_ROOT / "configs" / "tiny.yaml"
FAST = ["train.max_steps=12", "train.save_steps=5", "train.logging_steps=1", "train.eval_steps=null",
        "eval.before_training=false", "eval.require_improvement=false", "eval.max_examples=4",
        "data.generate.num_examples=80", "mlflow.log_system_metrics=false", "train.monitor_interval_s=1"]


class CrashAt:
    """A stand-in for a crash mid-run (OOM, preemption): raises inside the training loop."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class _Crash(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == step:
                    raise RuntimeError(f"simulated crash at step {step}")

        return _Crash()


def _steps_logged(log_dir):
    return [json.loads(line)["step"] for f in sorted((log_dir / "training").glob("*.log"))
            for line in f.read_text().splitlines() if '"training_step"' in line]


def test_a_crashed_run_fails_loudly_and_a_rerun_resumes_from_its_checkpoint(tmp_path):
    from mlflow.tracking import MlflowClient

    from configs.loader import load_config
    from configs.settings import Settings
    from tasks.registry.versions import get_alias_version, resolve_model
    from tasks.training.mlflow_run import run_training

    cfg = load_config(LOCAL, [*FAST, f"paths.data_dir={tmp_path / 'data'}"])
    with pytest.raises(TrainingError, match=r"failed near step 7: RuntimeError: simulated crash at step 7.*re-run to resume"):
        run_training(cfg, Settings(), tmp_path / "logs", callbacks=[CrashAt(7)])
    ckpts = tmp_path / "data" / "runs" / "local" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-5"]
    run_id = json.loads((tmp_path / "data" / "runs" / "local" / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    assert client.get_run(run_id).info.status == "FAILED"
    assert get_alias_version(cfg.mlflow.tracking_uri, cfg.mlflow.registered_model_name, "candidate") is None
    errors = [json.loads(line) for f in (tmp_path / "logs" / "training").glob("*.log")
              for line in f.read_text().splitlines() if '"training_error"' in line]
    assert errors and "simulated crash" in errors[0]["error"]

    first = _steps_logged(tmp_path / "logs")
    cfg = load_config(LOCAL, [*FAST, f"paths.data_dir={tmp_path / 'data'}", "mlflow.register_merged=true"])
    out = run_training(cfg, Settings(), tmp_path / "logs")
    assert out.resumed_from_step == 5 and out.global_step == 12
    assert out.run_id == run_id and client.get_run(run_id).info.status == "FINISHED"
    resumed = _steps_logged(tmp_path / "logs")[len(first):]
    assert resumed[0] == 6 and resumed[-1] == 12  # continued, not started over
    assert out.version == "1"
    merged = resolve_model(cfg.mlflow.tracking_uri, f"models:/{cfg.mlflow.registered_model_name}/1").merged_dir
    assert merged is not None and {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in merged.iterdir()}

    fresh = load_config(LOCAL, [*FAST, f"paths.data_dir={tmp_path / 'data'}", "train.resume=false", "train.max_steps=3"])
    again = run_training(fresh, Settings(), tmp_path / "logs")
    assert again.resumed_from_step is None and again.global_step == 3 and again.run_id != run_id
    assert again.version == "2" and get_alias_version(cfg.mlflow.tracking_uri, cfg.mlflow.registered_model_name,
                                                      "candidate") == "2"


def test_plain_lora_is_selected_by_config(tmp_path):
    import torch

    from configs.loader import load_config
    from tasks.training.model_setup import load_base_model
    from tasks.training.base_model import build_base_model
    from tasks.training.data import prepare_data

    cfg = load_config(LOCAL, [*FAST, f"paths.data_dir={tmp_path}", "model.quantization.enabled=false"])
    ref = build_base_model(cfg, prepare_data(cfg.data, cfg.paths.datasets_dir))
    plain = load_base_model(ref, cfg.model)
    assert type(plain.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    q = load_base_model(ref, cfg.model.model_copy(update={"quantization": cfg.model.quantization.model_copy(
        update={"enabled": True})}))
    assert type(q.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"


def test_cli_exit_codes_for_bad_config_and_bad_data(tmp_path):
    bad_cfg = run_cli("train", "--config", str(LOCAL), "--set", "train.max_steps=0", "--set", "lora.rank=3")
    assert bad_cfg.returncode == 1
    assert "train.max_steps: Input should be greater than 0" in bad_cfg.stderr and "lora.rank: unknown field" in bad_cfg.stderr
    assert "Traceback" not in bad_cfg.stderr
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"instruction": "a", "output": "b"}\n{"messages": []}\n')
    bad_data = run_cli("train", "--config", str(LOCAL), "--set", f"paths.data_dir={tmp_path / 'd'}",
                       "--set", "data.generate=null", "--set", f"data.path={rows}")
    assert bad_data.returncode == 1
    assert "line 2: 'messages' must be a non-empty list" in bad_data.stderr
    assert not (tmp_path / "d" / "mlflow").exists()  # failed before any training or tracking
