"""QLoRA / LoRA fine-tuning with transformers' Trainer and peft.

`train()` loads the base (4-bit nf4 through bitsandbytes unless `model.quantization.enabled`
is false), evaluates it, trains a LoRA adapter with checkpoints every `train.save_steps`,
resumes from the last checkpoint of the same `run_dir`, evaluates again and saves the adapter
with its tokenizer. Any failure raises TrainingError with the cause chained.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.errors import PipelineError, TrainingError
from configs.lora import LoraConfig
from configs.model import ModelConfig
from configs.pipeline import PipelineConfig
from tasks.training.data import PreparedData, read_jsonl
from tasks.training.evaluation import EvalResult

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    adapter_dir: Path
    global_step: int
    resumed_from_step: int | None
    train_loss: float
    loss_history: list[tuple[int, float]]
    before: EvalResult | None
    after: EvalResult | None
    n_train_used: int
    extra: dict[str, Any] = field(default_factory=dict)


def torch_dtype(name: str):
    import torch

    return getattr(torch, _DTYPES[name])


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
    if _cuda():  # a 4-bit model cannot be moved after loading: place it on the GPU while loading
        import torch

        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return AutoModelForCausalLM.from_pretrained(ref, **kwargs)


def encode_dataset(tokenizer: Any, path: Path, max_len: int) -> tuple[list[dict[str, list[int]]], int]:
    from tasks.training.chat_tokens import encode_chat

    rows, _ = read_jsonl(path, "error")
    feats = [encode_chat(tokenizer, msgs, max_len) for msgs in rows]
    kept = [f for f in feats if f is not None]
    return kept, len(feats) - len(kept)


def last_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` folder (one with trainer_state.json)."""
    if not checkpoints_dir.is_dir():
        return None
    found = [(int(p.name.split("-")[1]), p) for p in checkpoints_dir.glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def train(cfg: PipelineConfig, base_ref: str, data: PreparedData, run_dir: Path, log_dir: Path, *,
          token: str | None = None, metrics_sink: Callable[[dict[str, float], int], None] | None = None,
          callbacks: Sequence[Any] = (), monitor: bool = True) -> TrainResult:
    """Fine-tune `base_ref` on `data`; checkpoints in `<run_dir>/checkpoints`, adapter in `<run_dir>/adapter`."""
    from logging_lib import GPUMonitor, TrainingLogger

    run_dir = Path(run_dir)
    tlog = TrainingLogger(cfg.train.run_name, str(log_dir))
    mon = GPUMonitor(str(log_dir), interval=cfg.train.monitor_interval_s, name=f"{cfg.train.run_name}-monitor") \
        if monitor else None
    step_seen = {"step": 0}
    try:
        if mon is not None:
            mon.start_monitoring()
        return _train(cfg, base_ref, data, run_dir, tlog, token, metrics_sink, list(callbacks), step_seen)
    except PipelineError as exc:
        tlog.log_error(exc, step=step_seen["step"])
        raise
    except Exception as exc:
        tlog.log_error(exc, step=step_seen["step"])
        raise TrainingError(f"training run {cfg.train.run_name!r} failed near step {step_seen['step']}: "
                            f"{type(exc).__name__}: {exc} (re-run to resume from the last checkpoint in "
                            f"{run_dir / 'checkpoints'})") from exc
    finally:
        if mon is not None:
            mon.close()
        tlog.close()


def _train(cfg, base_ref, data, run_dir, tlog, token, metrics_sink, callbacks, step_seen) -> TrainResult:
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from tasks.training.base_model import save_tokenizer
    from tasks.training.callbacks import MetricsSinkCallback, TrainingLogCallback
    from tasks.training.chat_tokens import ChatCollator
    from tasks.training.eval_metrics import load_eval_examples
    from tasks.training.evaluation import evaluate

    ckpt_dir = run_dir / "checkpoints"
    if not cfg.train.resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    resume_from = last_checkpoint(ckpt_dir)
    resumed_step = int(resume_from.name.split("-")[1]) if resume_from else None

    set_seed(cfg.train.seed)
    tokenizer = load_tokenizer(base_ref, cfg.model, token)
    model = load_base_model(base_ref, cfg.model, token)
    model.config.use_cache = False
    if cfg.model.quantization.enabled:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    train_feats, n_dropped = encode_dataset(tokenizer, data.train_path, cfg.model.max_seq_len)
    eval_feats, _ = encode_dataset(tokenizer, data.eval_path, cfg.model.max_seq_len)
    if not train_feats:
        raise TrainingError(f"no training example keeps an answer token within model.max_seq_len="
                            f"{cfg.model.max_seq_len}; raise it")
    examples = load_eval_examples(data.eval_path)

    before = evaluate(model, tokenizer, examples, cfg.eval, cfg.model.max_seq_len) if cfg.eval.before_training else None
    if before is not None and metrics_sink is not None:
        metrics_sink(before.metrics("base_"), 0)

    from peft import get_peft_model

    set_seed(cfg.train.seed)
    model = get_peft_model(model, peft_lora_config(cfg.lora))

    class _StepSeen(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            step_seen["step"] = state.global_step

    t = cfg.train
    args = TrainingArguments(
        output_dir=str(ckpt_dir), max_steps=t.max_steps, per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=cfg.eval.batch_size, gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=t.optimizer, bf16=t.bf16,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        logging_strategy="steps", logging_steps=t.logging_steps,
        eval_strategy="steps" if t.eval_steps else "no", eval_steps=t.eval_steps,
        report_to="none", seed=t.seed, data_seed=t.seed, remove_unused_columns=False,
        dataloader_num_workers=t.dataloader_num_workers, disable_tqdm=False, use_cpu=not _cuda(),
    )
    cbs = [TrainingLogCallback(tlog), _StepSeen(), *callbacks]
    if metrics_sink is not None:
        cbs.append(MetricsSinkCallback(metrics_sink))
    trainer = Trainer(model=model, args=args, train_dataset=train_feats, eval_dataset=eval_feats or None,
                      data_collator=ChatCollator(tokenizer.pad_token_id), processing_class=tokenizer, callbacks=cbs)
    t0 = time.monotonic()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    history = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h]
    if not math.isfinite(output.training_loss):
        raise TrainingError(f"training loss is {output.training_loss}; lower train.learning_rate")

    adapter_dir = run_dir / "adapter"
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    model.save_pretrained(adapter_dir)
    save_tokenizer(tokenizer, adapter_dir)

    after = evaluate(model, tokenizer, examples, cfg.eval, cfg.model.max_seq_len)
    if metrics_sink is not None:
        metrics_sink(after.metrics("final_"), trainer.state.global_step)
    result = TrainResult(run_dir=run_dir, adapter_dir=adapter_dir, global_step=trainer.state.global_step,
                         resumed_from_step=resumed_step, train_loss=float(output.training_loss),
                         loss_history=history, before=before, after=after, n_train_used=len(train_feats),
                         extra={"train_runtime_s": round(time.monotonic() - t0, 3), "n_train_dropped": n_dropped})
    (run_dir / "train_result.json").write_text(json.dumps(
        {"global_step": result.global_step, "resumed_from_step": resumed_step, "train_loss": result.train_loss,
         "loss_history": history, "before": before.to_dict() if before else None, "after": after.to_dict(), **result.extra}, indent=2))
    if cfg.eval.require_improvement and before is not None and after.exact_match <= before.exact_match:
        raise TrainingError(f"fine-tuned exact match {after.exact_match:.3f} does not beat the base "
                            f"{before.exact_match:.3f}; train longer (train.max_steps) or raise train.learning_rate")
    return result


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def plot_loss_curve(history: list[tuple[int, float]], path: Path, title: str = "training loss") -> Path:
    """A PNG of loss against step (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if history:
        steps, losses = zip(*history)
        ax.plot(steps, losses, marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
