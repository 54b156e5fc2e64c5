"""The model side of a fine-tune: tokenizer, base (4-bit nf4 through bitsandbytes unless
`model.quantization.enabled` is false), k-bit preparation, the LoRA config, and merging an
adapter back into its base.

The config builders (`quantization_config`, `peft_lora_config`) are pure and need no GPU;
the loaders import transformers/peft inside, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.errors import TrainingError
from configs.lora import LoraConfig
from configs.model import ModelConfig
from configs.pipeline import PipelineConfig

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def torch_dtype(name: str):
    import torch

    return getattr(torch, _DTYPES[name])


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def quantization_config(cfg: ModelConfig):
    """The BitsAndBytesConfig for `cfg`, or None for plain LoRA. Pure: no GPU needed."""
    if not cfg.quantization.enabled:
        return None
    from transformers import BitsAndBytesConfig

    q = cfg.quantization
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=q.quant_type,
                              bnb_4bit_use_double_quant=q.double_quant,
                              bnb_4bit_compute_dtype=torch_dtype(q.compute_dtype))


def peft_lora_config(cfg: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias=cfg.bias,
                          target_modules=cfg.target_modules, task_type="CAUSAL_LM")


def load_tokenizer(ref: str, cfg: ModelConfig, token: str | None = None):
    from transformers import AutoTokenizer

    from tasks.training.chat_tokens import ensure_pad_token

    tok = AutoTokenizer.from_pretrained(ref, revision=cfg.revision, token=token, trust_remote_code=cfg.trust_remote_code)
    ensure_pad_token(tok)
    if not tok.chat_template:
        raise TrainingError(f"the tokenizer of {ref} has no chat template; use an instruct/chat model")
    return tok


def load_base_model(ref: str, cfg: ModelConfig, token: str | None = None, *, quantize: bool | None = None):
    """The base through `from_pretrained` (hub id or folder), 4-bit when configured."""
    from transformers import AutoModelForCausalLM

    q = quantization_config(cfg) if quantize in (None, True) else None
    kwargs: dict[str, Any] = {"dtype": torch_dtype(cfg.dtype), "revision": cfg.revision, "token": token,
                              "attn_implementation": cfg.attn_implementation, "trust_remote_code": cfg.trust_remote_code}
    if q is not None:
        kwargs["quantization_config"] = q
    if cuda_available():  # a 4-bit model cannot be moved after loading: place it on the GPU while loading
        import torch

        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return AutoModelForCausalLM.from_pretrained(ref, **kwargs)


def prepare_for_training(model: Any, cfg: PipelineConfig) -> Any:
    """No KV cache while training; a 4-bit base also gets peft's k-bit preparation (norms in
    fp32, input grads on, gradient checkpointing as configured)."""
    model.config.use_cache = False
    if not cfg.model.quantization.enabled:
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.gradient_checkpointing,
                                           gradient_checkpointing_kwargs={"use_reentrant": False})


def merge_adapter(base_ref: str, adapter_dir: Path, out_dir: Path, cfg: PipelineConfig, token: str | None) -> Path:
    """Base (unquantized, `model.dtype`) + adapter merged into one folder, tokenizer included."""
    import shutil

    from peft import PeftModel

    from tasks.training.base_model import save_tokenizer

    base = load_base_model(base_ref, cfg.model, token, quantize=False)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    merged.save_pretrained(out_dir)
    save_tokenizer(load_tokenizer(str(adapter_dir), cfg.model), out_dir)
    return out_dir
