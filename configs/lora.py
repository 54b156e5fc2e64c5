"""`lora`: the adapter's shape (peft LoraConfig)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from configs._base import Section


class LoraConfig(Section):
    r: int = Field(8, gt=0, description="rank")
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="module names, or 'all-linear'")
    bias: Literal["none", "all", "lora_only"] = "none"
