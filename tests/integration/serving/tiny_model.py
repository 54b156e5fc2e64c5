"""The tiny random Llama the project builds, and a LoRA adapter with non-zero B weights, built
locally (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

CORPUS = [f"the quick brown fox number {i} jumps over the lazy dog and serves tokens fast" for i in range(300)]


def build_tiny_llama(out: Path) -> Path:
    """The project's own tiny-model builder (what the pipeline serves), on a small fixed corpus."""
    from configs.model import TinyModelConfig
    from tasks.training.base_model import build_tiny_model

    return build_tiny_model(TinyModelConfig(), CORPUS, "serving-test-corpus", out)


def build_adapter(base: Path, out: Path, rank: int = 8) -> Path:
    """LoRA on the attention projections with random (non-zero) A and B, so answers change;
    saved as the trainer saves one (`recipe._save_adapter`): weights plus the tokenizer the
    trainer loaded (`load_tokenizer`), written by `save_tokenizer`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from configs.model import ModelConfig
    from tasks.training.base_model import save_tokenizer
    from tasks.training.model_setup import load_tokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = LoraConfig(r=rank, lora_alpha=4 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0).add_(torch.randn_like(param) * 0.5)
    peft_model.save_pretrained(out)
    save_tokenizer(load_tokenizer(str(base), ModelConfig(name_or_path=str(base))), out)
    return out
