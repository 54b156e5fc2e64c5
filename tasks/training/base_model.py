"""The base model: a hub id / local folder as given, a GGUF file converted once
(`gguf_source.py`), or a tiny random Llama built here.

A tiny model is a normal HF folder (config, safetensors, tokenizer with distinct bos/eos/pad
and a chat template), deterministic for its config + seed + corpus, built once into
`<models_dir>/tiny-llama-<key>` and reused afterwards. vLLM's CPU build serves it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from configs.errors import TrainingError
from configs.model import ModelConfig, TinyModelConfig
from configs.pipeline import PipelineConfig
from tasks.training.data import PreparedData, read_jsonl
from tasks.training.tokenizer_files import save_tokenizer

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
# Each message ends with eos, so the model learns to stop after its answer.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_DONE = ".complete"


def tiny_model_key(spec: TinyModelConfig, corpus_sha256: str) -> str:
    blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True) + corpus_sha256
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_tiny_model(spec: TinyModelConfig, corpus: Iterable[str], corpus_sha256: str, models_dir: Path) -> Path:
    """Build (or reuse) the tiny model for this spec and corpus; returns its folder."""
    target = Path(models_dir) / f"tiny-llama-{tiny_model_key(spec, corpus_sha256)}"
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        tokenizer = train_tokenizer(list(corpus), spec.vocab_size)
        save_tokenizer(tokenizer, tmp)
        model = random_llama(spec, tokenizer)
        model.save_pretrained(tmp)
        (tmp / _DONE).write_text(json.dumps({"spec": spec.model_dump(mode="json"), "corpus_sha256": corpus_sha256}))
        if target.exists():  # a half-built folder from a crash: replace it
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts` (any byte sequence stays encodable)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS, *ROLE_TOKENS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   additional_special_tokens=list(ROLE_TOKENS), chat_template=CHAT_TEMPLATE,
                                   model_max_length=4096, padding_side="right")


def random_llama(spec: TinyModelConfig, tokenizer):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers, num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads, head_dim=spec.head_dim,
        vocab_size=max(spec.vocab_size, len(tokenizer)), max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
        with torch.no_grad():  # see TinyModelConfig.lm_head_init_std
            model.lm_head.weight.normal_(0.0, spec.lm_head_init_std)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    return model


def base_model_ref(cfg: ModelConfig, built_dir: Path | None) -> str:
    """What `from_pretrained` gets: the built tiny folder, else the configured hub id/folder."""
    if cfg.tiny is not None:
        if built_dir is None:
            raise ValueError("model.tiny is set but no tiny model was built")
        return str(built_dir)
    return str(cfg.name_or_path)


def build_base_model(cfg: PipelineConfig, data: PreparedData) -> str:
    """The `from_pretrained` reference: the tiny model built (once) from the training rows, or
    the configured hub id / folder, or the folder a GGUF file was converted to (once)."""
    if cfg.model.gguf is not None:
        from tasks.training.gguf_source import ensure_converted

        return str(ensure_converted(cfg.model.gguf, cfg.paths.models_dir))
    if cfg.model.tiny is None:
        if cfg.model.is_local_path and not Path(cfg.model.name_or_path).is_dir():
            raise TrainingError(f"model.name_or_path {cfg.model.name_or_path} is not a folder")
        return base_model_ref(cfg.model, None)
    rows, _ = read_jsonl(data.train_path, "error")
    corpus = [m["content"] for msgs in rows for m in msgs]
    return str(build_tiny_model(cfg.model.tiny, corpus, data.sha256, cfg.paths.models_dir))
