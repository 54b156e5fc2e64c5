"""`train` and `eval`: the optimisation loop and the before/after evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from configs._base import Section


class TrainConfig(Section):
    run_name: str = Field("local", pattern=r"^[A-Za-z0-9._-]+$",
                          description="a re-run with the same name resumes from its last checkpoint")
    resume: bool = Field(True, description="false: discard this run's old checkpoints and start over")
    max_steps: int = Field(100, gt=0)
    per_device_batch_size: int = Field(8, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    optimizer: Literal["adamw_torch", "paged_adamw_32bit", "paged_adamw_8bit", "adamw_8bit", "sgd"] = "adamw_torch"
    gradient_checkpointing: bool = False
    bf16: bool = Field(False, description="bf16 mixed precision (GPU)")
    save_steps: int = Field(50, gt=0, description="checkpoint every N optimizer steps")
    save_total_limit: int = Field(2, gt=0)
    logging_steps: int = Field(5, gt=0)
    eval_steps: int | None = Field(None, gt=0, description="eval loss every N steps during training; None: off")
    monitor_interval_s: float = Field(10.0, gt=0, description="GPUMonitor sampling period")
    seed: int = 42
    dataloader_num_workers: int = Field(0, ge=0)


class EvalConfig(Section):
    before_training: bool = Field(True, description="evaluate the base model too (the comparison needs it)")
    batch_size: int = Field(16, gt=0)
    max_new_tokens: int = Field(16, gt=0)
    max_examples: int | None = Field(None, gt=0, description="cap on generated answers (exact match)")
    require_improvement: bool = Field(False, description="fail the run if exact match does not beat the base")

    @model_validator(mode="after")
    def _need_base(self) -> EvalConfig:
        if self.require_improvement and not self.before_training:
            raise ValueError("require_improvement needs before_training: true (the base score is the bar)")
        return self
