"""The fine-tune recipe: one QLoRA / LoRA training of a base on prepared data, torchtune style.

`train()` opens the typed training log and the GPU monitor around a `LoraFinetuneRecipe`,
whose `setup()` is three small steps (model, data, trainer) and whose `train()` runs the
workflow: evaluate the base, fit (checkpoints every `train.save_steps`, resuming from the last
checkpoint of the same `run_dir`), save the adapter with its tokenizer, evaluate again, write
`train_result.json` (the summaries), `eval_items.jsonl` (every eval item, base and fine-tuned
side by side) and the model card (the adapter's README.md). Any failure raises TrainingError
with the cause chained.

A new step of the workflow goes into `LoraFinetuneRecipe.train()` as one more small method;
a new piece of setup into the `_setup_*` step it belongs to.
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
from configs.pipeline import PipelineConfig
from tasks.training.data import PreparedData
from tasks.training.evaluation import EvalResult

MetricsSink = Callable[[dict[str, float], int], None]
EVAL_ITEMS_FILE = "eval_items.jsonl"  # in the run folder: one line per eval item


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

    def to_json(self) -> str:
        """What `train_result.json` holds."""
        return json.dumps({"global_step": self.global_step, "resumed_from_step": self.resumed_from_step,
                           "train_loss": self.train_loss, "loss_history": self.loss_history,
                           "before": self.before.to_dict() if self.before else None,
                           "after": self.after.to_dict() if self.after else None, **self.extra}, indent=2)


def train(cfg: PipelineConfig, *, base_ref: str, data: PreparedData, run_dir: Path, log_dir: Path,
          token: str | None = None, metrics_sink: MetricsSink | None = None, callbacks: Sequence[Any] = (),
          monitor: bool = True) -> TrainResult:
    """Fine-tune `base_ref` on `data`; checkpoints in `<run_dir>/checkpoints`, adapter in `<run_dir>/adapter`."""
    from logging_lib import GPUMonitor, TrainingLogger
    from tasks.training.callbacks import StepTracker

    run_dir = Path(run_dir)
    tlog = TrainingLogger(cfg.train.run_name, str(log_dir))
    mon = GPUMonitor(str(log_dir), interval=cfg.train.monitor_interval_s, name=f"{cfg.train.run_name}-monitor") \
        if monitor else None
    progress = StepTracker()
    try:
        if mon is not None:
            mon.start_monitoring()
        recipe = LoraFinetuneRecipe(cfg, base_ref=base_ref, data=data, run_dir=run_dir, training_log=tlog,
                                    progress=progress, token=token, metrics_sink=metrics_sink, callbacks=callbacks)
        recipe.setup()
        return recipe.train()
    except PipelineError as exc:
        tlog.log_error(exc, step=progress.step)
        raise
    except Exception as exc:
        tlog.log_error(exc, step=progress.step)
        raise TrainingError(f"training run {cfg.train.run_name!r} failed near step {progress.step}: "
                            f"{type(exc).__name__}: {exc} (re-run to resume from the last checkpoint in "
                            f"{run_dir / 'checkpoints'})") from exc
    finally:
        if mon is not None:
            mon.close()
        tlog.close()


class LoraFinetuneRecipe:
    """One fine-tune: `setup()` then `train()`. The collaborators (training log, step tracker,
    metrics sink, extra Trainer callbacks) come in by keyword; nothing here opens or closes them."""

    def __init__(self, cfg: PipelineConfig, *, base_ref: str, data: PreparedData, run_dir: Path, training_log: Any,
                 progress: Any, token: str | None = None, metrics_sink: MetricsSink | None = None,
                 callbacks: Sequence[Any] = ()) -> None:
        self.cfg, self.base_ref, self.data, self.run_dir = cfg, base_ref, data, Path(run_dir)
        self.training_log, self.progress, self.token = training_log, progress, token
        self.metrics_sink, self.callbacks = metrics_sink, list(callbacks)

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        self._setup_model()
        self._setup_data()
        self._setup_trainer()

    def _setup_model(self) -> None:
        """Tokenizer, base (quantized when configured), k-bit preparation, then the LoRA adapter.
        The seed is set before loading and again before the adapter's random init, so the
        adapter starts the same whatever loading consumed."""
        from peft import get_peft_model
        from transformers import set_seed

        from tasks.training.model_setup import load_base_model, load_tokenizer, peft_lora_config, prepare_for_training

        set_seed(self.cfg.train.seed)
        self.tokenizer = load_tokenizer(self.base_ref, self.cfg.model, self.token)
        base = prepare_for_training(load_base_model(self.base_ref, self.cfg.model, self.token), self.cfg)
        set_seed(self.cfg.train.seed)
        self.model = get_peft_model(base, peft_lora_config(self.cfg.lora))

    def _setup_data(self) -> None:
        """Training and eval splits encoded (labels on the answers only), and the eval examples."""
        from tasks.training.chat_tokens import encode_dataset
        from tasks.training.eval_metrics import load_eval_examples

        max_len = self.cfg.model.max_seq_len
        self.train_feats, self.n_train_dropped = encode_dataset(self.tokenizer, self.data.train_path, max_len)
        self.eval_feats, _ = encode_dataset(self.tokenizer, self.data.eval_path, max_len)
        if not self.train_feats:
            raise TrainingError(f"no training example keeps an answer token within model.max_seq_len={max_len}; "
                                "raise it")
        self.eval_examples = load_eval_examples(self.data.eval_path)

    def _setup_trainer(self) -> None:
        """The resume point, TrainingArguments from the config, our callbacks, the Trainer."""
        from transformers import Trainer

        from tasks.training.callbacks import MetricsSinkCallback, TrainingLogCallback
        from tasks.training.chat_tokens import ChatCollator

        ckpt_dir = self.run_dir / "checkpoints"
        self.resume_from = resume_point(ckpt_dir, resume=self.cfg.train.resume)
        cbs = [TrainingLogCallback(self.training_log), self.progress, *self.callbacks]
        if self.metrics_sink is not None:
            cbs.append(MetricsSinkCallback(self.metrics_sink))
        self.trainer = Trainer(model=self.model, args=training_arguments(self.cfg, ckpt_dir),
                               train_dataset=self.train_feats, eval_dataset=self.eval_feats or None,
                               data_collator=ChatCollator(self.tokenizer.pad_token_id),
                               processing_class=self.tokenizer, callbacks=cbs)

    # -- the workflow --------------------------------------------------------------------------

    def train(self) -> TrainResult:
        before = self._evaluate_before()
        t0 = time.monotonic()
        output = self._fit()
        adapter_dir = self._save_adapter()
        after = self._evaluate_after()
        result = self._result(output, before, after, adapter_dir, runtime_s=round(time.monotonic() - t0, 3))
        (self.run_dir / "train_result.json").write_text(result.to_json())
        self._write_eval_items(before, after)
        self._write_model_card(result)
        self._check_improvement(before, after)
        return result

    def _evaluate_before(self) -> EvalResult | None:
        """The base's scores: the adapter is switched off, so this is the base model itself."""
        if not self.cfg.eval.before_training:
            return None
        with self.model.disable_adapter():
            before = self._evaluate()
        if self.metrics_sink is not None:
            self.metrics_sink(before.metrics("base_"), 0)
        return before

    def _fit(self) -> Any:
        resume = str(self.resume_from) if self.resume_from else None
        output = self.trainer.train(resume_from_checkpoint=resume)
        if not math.isfinite(output.training_loss):
            raise TrainingError(f"training loss is {output.training_loss}; lower train.learning_rate")
        return output

    def _save_adapter(self) -> Path:
        from tasks.training.base_model import save_tokenizer

        adapter_dir = self.run_dir / "adapter"
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        self.model.save_pretrained(adapter_dir)
        save_tokenizer(self.tokenizer, adapter_dir)
        return adapter_dir

    def _evaluate_after(self) -> EvalResult:
        after = self._evaluate()
        if self.metrics_sink is not None:
            self.metrics_sink(after.metrics("final_"), self.trainer.state.global_step)
        return after

    def _evaluate(self) -> EvalResult:
        from tasks.training.evaluation import evaluate

        return evaluate(self.model, self.tokenizer, self.eval_examples, self.cfg.eval, self.cfg.model.max_seq_len)

    def _write_eval_items(self, before: EvalResult | None, after: EvalResult) -> Path:
        from tasks.training.evaluation import item_rows, write_item_rows

        return write_item_rows(self.run_dir / EVAL_ITEMS_FILE, item_rows(before, after))

    def _write_model_card(self, result: TrainResult) -> Path:
        """The adapter's README.md (replacing peft's boilerplate), written before the adapter is logged."""
        from tasks.training.model_card import card_facts, render_model_card

        facts = card_facts(self.cfg, data=self.data, base_ref=self.base_ref, before=result.before,
                           after=result.after, steps=result.global_step)
        card = result.adapter_dir / "README.md"
        card.write_text(render_model_card(facts), encoding="utf-8")
        return card

    def _result(self, output: Any, before: EvalResult | None, after: EvalResult, adapter_dir: Path, *,
                runtime_s: float) -> TrainResult:
        state = self.trainer.state
        history = [(int(h["step"]), float(h["loss"])) for h in state.log_history if "loss" in h]
        return TrainResult(run_dir=self.run_dir, adapter_dir=adapter_dir, global_step=state.global_step,
                           resumed_from_step=checkpoint_step(self.resume_from), train_loss=float(output.training_loss),
                           loss_history=history, before=before, after=after, n_train_used=len(self.train_feats),
                           extra={"train_runtime_s": runtime_s, "n_train_dropped": self.n_train_dropped})

    def _check_improvement(self, before: EvalResult | None, after: EvalResult) -> None:
        if self.cfg.eval.require_improvement and before is not None and after.exact_match <= before.exact_match:
            raise TrainingError(f"fine-tuned exact match {after.exact_match:.3f} does not beat the base "
                                f"{before.exact_match:.3f}; train longer (train.max_steps) or raise "
                                "train.learning_rate")


def training_arguments(cfg: PipelineConfig, output_dir: Path):
    """transformers' TrainingArguments from our config (CPU unless CUDA is there)."""
    from transformers import TrainingArguments

    from tasks.training.model_setup import cuda_available

    t = cfg.train
    return TrainingArguments(
        output_dir=str(output_dir), max_steps=t.max_steps, per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=cfg.eval.batch_size, gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=t.optimizer, bf16=t.bf16,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        logging_strategy="steps", logging_steps=t.logging_steps,
        eval_strategy="steps" if t.eval_steps else "no", eval_steps=t.eval_steps,
        report_to="none", seed=t.seed, data_seed=t.seed, remove_unused_columns=False,
        dataloader_num_workers=t.dataloader_num_workers, disable_tqdm=False, use_cpu=not cuda_available(),
    )


def resume_point(checkpoints_dir: Path, *, resume: bool) -> Path | None:
    """The checkpoint to resume from; with `resume` off, earlier checkpoints are deleted first."""
    if not resume and checkpoints_dir.exists():
        shutil.rmtree(checkpoints_dir)
    return last_checkpoint(checkpoints_dir)


def last_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` folder (one with trainer_state.json)."""
    if not checkpoints_dir.is_dir():
        return None
    found = [(int(p.name.split("-")[1]), p) for p in checkpoints_dir.glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.split("-")[1]) if checkpoint else None
