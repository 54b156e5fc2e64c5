"""The tiny base model, its tokenizer, label masking, and the pure config builders."""

from __future__ import annotations

import pytest

from configs.errors import RegistryError
from configs.lora import LoraConfig
from configs.model import ModelConfig, TinyModelConfig
from tasks.training.base_model import build_tiny_model
from tasks.training.chat_tokens import IGNORE_INDEX, ChatCollator, encode_chat, encode_prompt
from tasks.registry.versions import parse_ref
from tasks.training.model_setup import peft_lora_config, quantization_config

CORPUS = ["What is the capital of France?", "Paris", "What is the capital of Peru?", "Lima", "hello there"] * 20
SPEC = TinyModelConfig(vocab_size=400, hidden_size=64, intermediate_size=128, num_attention_heads=2,
                       num_key_value_heads=1, num_hidden_layers=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(SPEC, CORPUS, "corpus-hash", tmp_path_factory.mktemp("models"))


def test_tiny_model_is_a_normal_hf_folder_with_distinct_special_tokens(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    ids = {tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}
    assert len(ids) == 3 and None not in ids
    assert model.config.head_dim == 64
    assert model.config.pad_token_id == tok.pad_token_id and model.config.eos_token_id == tok.eos_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<s><|user|>\nhi</s>\n<|assistant|>\n"
    # every byte stays encodable with a byte-level vocabulary
    assert tok.decode(tok("naïve ☃", add_special_tokens=False)["input_ids"]) == "naïve ☃"


def test_tiny_model_is_deterministic_and_built_once(tiny, tmp_path):
    import torch
    from safetensors.torch import load_file

    again = build_tiny_model(SPEC, CORPUS, "corpus-hash", tmp_path)
    a, b = load_file(tiny / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tiny / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()
    stamp = (again / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(SPEC, CORPUS, "corpus-hash", tmp_path) == again
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    assert build_tiny_model(SPEC.model_copy(update={"seed": 1}), CORPUS, "corpus-hash", tmp_path) != again


def test_loss_is_only_on_the_assistant_answer_and_its_stop_token(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of Peru?"},
            {"role": "assistant", "content": "Lima"}]
    enc = encode_chat(tok, msgs, max_len=128)
    labelled = [t for t in enc["labels"] if t != IGNORE_INDEX]
    assert tok.decode(labelled) == "Lima</s>"
    assert enc["input_ids"][: len(encode_prompt(tok, msgs[:-1]))] == encode_prompt(tok, msgs[:-1])
    assert encode_chat(tok, msgs, max_len=5) is None  # truncation left no answer token
    batch = ChatCollator(tok.pad_token_id)([enc, {"input_ids": [1, 2], "labels": [IGNORE_INDEX, 2]}])
    assert batch["input_ids"][1, 2:].eq(tok.pad_token_id).all() and batch["labels"][1, 2:].eq(IGNORE_INDEX).all()
    assert batch["attention_mask"][1].tolist()[:3] == [1, 1, 0]
    assert tok.pad_token_id != tok.eos_token_id


def test_quantization_and_lora_builders_follow_the_config():
    import torch

    q = quantization_config(ModelConfig(name_or_path="org/m"))
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config(ModelConfig(name_or_path="org/m", quantization={"enabled": False})) is None
    lc = peft_lora_config(LoraConfig(r=16, alpha=32, target_modules="all-linear"))
    assert (lc.r, lc.lora_alpha, lc.target_modules) == (16, 32, "all-linear")


def test_model_references_are_parsed_or_rejected():
    assert parse_ref("models:/tiny@champion") == ("tiny", "champion", None)
    assert parse_ref("models:/tiny/3") == ("tiny", None, "3")
    with pytest.raises(RegistryError, match="models:/NAME@ALIAS or models:/NAME/VERSION"):
        parse_ref("runs:/abc/adapter")
