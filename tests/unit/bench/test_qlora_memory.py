"""bench/qlora_memory.py's choices a user makes (which model, which shape) and its count of
weight bytes per kind, on tiny Llamas saved and loaded by transformers itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench._qlora_model import (NF4_BYTES_PER_WEIGHT, ModelFolderError, bytes_by_kind, check_model_dir,
                                smollm2_folder, theoretical, weight_counts)
from bench.qlora_memory import parse_args, resolve_model
from tests.conftest import REPO_ROOT, TINY_CONFIG

LOCAL = REPO_ROOT / "configs" / "local.yaml"


def _tiny_llama(folder: Path, *, tied: bool):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=64, vocab_size=1000, tie_word_embeddings=tied)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(folder)
    return model


def test_smollm2_trains_shape_comes_from_the_local_config():
    args = parse_args(["--model", "smollm2"])
    assert (args.seq, args.batch) == (192, 8)  # configs/local.yaml: model.max_seq_len, train.per_device_batch_size
    assert (parse_args(["--model", "smollm2", "--seq", "64"]).seq, parse_args([]).seq, parse_args([]).batch) == (64, 128, 1)


def test_model_and_model_dir_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model", "smollm2", "--model-dir", "x"])
    assert "not both" in capsys.readouterr().err


def test_a_folder_that_is_no_model_is_named(tmp_path):
    with pytest.raises(ModelFolderError, match="no config.json"):
        check_model_dir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelFolderError, match="no \\*.safetensors"):
        check_model_dir(tmp_path)


def test_a_config_without_gguf_source_is_refused_for_smollm2(tmp_path):
    with pytest.raises(ModelFolderError, match="no model.gguf section"):
        smollm2_folder(TINY_CONFIG, tmp_path)


def test_smollm2_reuses_a_converted_folder_in_models_dir(tmp_path, capsys):
    """A folder whose manifest matches the wheel's GGUF is used as is: no conversion."""
    pytest.importorskip("gguf")
    from configs.loader import load_config
    from tasks.training.gguf_source import ensure_converted, expected_manifest, file_sha256, locate_gguf

    src = load_config(LOCAL).model.gguf
    path = locate_gguf(src)
    sha = file_sha256(path)
    folder = tmp_path / f"gguf-{path.stem}-{sha[:12]}"
    folder.mkdir()
    (folder / "conversion.json").write_text(json.dumps(expected_manifest(src, path, sha)))
    assert ensure_converted(src, tmp_path, progress=pytest.fail) == folder  # what the bench must then find
    args = parse_args(["--model", "smollm2", "--models-dir", str(tmp_path)])
    assert resolve_model(args, tmp_path / "unused")[0] == folder
    assert "converting" not in capsys.readouterr().out


@pytest.mark.parametrize("tied", [True, False])
def test_weight_counts_per_kind_add_up_to_the_model(tmp_path, tied):
    model = _tiny_llama(tmp_path, tied=tied)
    counts = weight_counts(check_model_dir(tmp_path))
    assert counts["total"] == sum(p.numel() for p in model.parameters())  # a tied lm_head counted once
    assert counts["embedding"] == 1000 * 256
    assert counts["lm_head"] == (0 if tied else 1000 * 256)
    assert counts["decoder_linear"] == 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512)
    assert counts["tied"] == int(tied)


def test_bytes_in_memory_per_kind_match_the_theory(tmp_path):
    """bf16 weights take 2 bytes each; nf4 ones (with their quantization state) about 0.52,
    while the tied embedding stays bf16 at load."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    _tiny_llama(tmp_path, tied=True)
    counts = weight_counts(tmp_path)
    bf16 = bytes_by_kind(AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16))
    assert bf16["decoder_linear"] == 2 * counts["decoder_linear"]
    assert bf16["embedding"] == 2 * counts["embedding"]
    nf4 = bytes_by_kind(AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16, quantization_config=(
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.bfloat16))))
    per_weight = nf4["decoder_linear"] / counts["decoder_linear"]
    assert NF4_BYTES_PER_WEIGHT <= per_weight < 1.05 * NF4_BYTES_PER_WEIGHT
    assert nf4["embedding"] == 2 * counts["embedding"]
    assert theoretical(counts)["nf4"] < theoretical(counts)["bf16"]


def test_modes_subset_and_an_unknown_mode_named(capsys):
    assert parse_args(["--modes", "bf16, nf4-noupcast"]).modes == ("bf16", "nf4-noupcast")
    with pytest.raises(SystemExit):
        parse_args(["--modes", "bf16,int8"])
    assert "unknown mode(s) int8; choose from fp32,bf16," in capsys.readouterr().err
