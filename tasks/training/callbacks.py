"""Trainer callbacks: typed training logs (TrainingLogger), a metrics sink (MLflow), step
summaries for a human-facing log, and the last step reached (for error messages).

Imports transformers at module level (the base class); import this module inside functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

_MIB = 1024 * 1024


def _gpu_memory_mib() -> tuple[float | None, float | None]:
    import torch

    if not torch.cuda.is_available():
        return None, None
    dev = torch.cuda.current_device()
    return (round(torch.cuda.memory_allocated(dev) / _MIB, 1),
            round(torch.cuda.get_device_properties(dev).total_memory / _MIB, 1))


class TrainingLogCallback(TrainerCallback):
    """epoch_start / training_step / validation / epoch_end through a TrainingLogger."""

    def __init__(self, logger: Any) -> None:
        self.log = logger
        self._epoch_t0 = time.monotonic()
        self._epoch_losses: list[float] = []
        self._epoch = 0

    def on_epoch_begin(self, args, state, control, **kw):
        self._epoch = int(math.floor(state.epoch or 0)) + 1
        self._epoch_t0 = time.monotonic()
        self._epoch_losses = []
        self.log.log_epoch_start(epoch=self._epoch, total_epochs=int(math.ceil(state.num_train_epochs or 1)))

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs or "loss" not in logs:
            return
        used, total = _gpu_memory_mib()
        loss = float(logs["loss"])
        self._epoch_losses.append(loss)
        extra = {"grad_norm": float(logs["grad_norm"])} if logs.get("grad_norm") is not None else {}
        self.log.log_step(epoch=round(float(state.epoch or 0), 4), step=state.global_step, loss=loss,
                          learning_rate=float(logs.get("learning_rate", 0.0)), gpu_memory_used=used,
                          gpu_memory_total=total, **extra)

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if metrics and "eval_loss" in metrics:
            loss = float(metrics["eval_loss"])
            self.log.log_validation(epoch=round(float(state.epoch or 0), 4), val_loss=loss,
                                    perplexity=math.exp(min(loss, 50.0)), step=state.global_step)

    def on_epoch_end(self, args, state, control, **kw):
        avg = sum(self._epoch_losses) / len(self._epoch_losses) if self._epoch_losses else float("nan")
        self.log.log_epoch_end(epoch=self._epoch, avg_loss=avg, time_elapsed=round(time.monotonic() - self._epoch_t0, 3),
                               step=state.global_step)


class StepTracker(TrainerCallback):
    """Remembers the last optimizer step reached, so a failure can say where it happened."""

    def __init__(self) -> None:
        self.step = 0

    def on_step_end(self, args, state, control, **kw):
        self.step = state.global_step


class MetricsSinkCallback(TrainerCallback):
    """Hands every numeric value the Trainer logs to `sink(metrics, step)` (e.g. MLflow)."""

    def __init__(self, sink: Callable[[dict[str, float], int], None]) -> None:
        self.sink = sink

    def on_log(self, args, state, control, logs=None, **kw):
        numeric = {k: float(v) for k, v in (logs or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        if numeric:
            self.sink(numeric, state.global_step)


class RunLogSummaryCallback(TrainerCallback):
    """Step summaries (not every step) for a human-facing log, e.g. the Prefect run log in the UI:
    one line per `every_steps` optimizer steps, each evaluation, and the end of training."""

    def __init__(self, logger: Any, every_steps: int) -> None:
        self.log = logger
        self.every_steps = max(1, int(every_steps))
        self._losses: list[float] = []
        self._last_step = 0

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self._losses.append(float(logs["loss"]))
        if state.global_step - self._last_step >= self.every_steps and self._losses:
            mean = sum(self._losses) / len(self._losses)
            self.log.info("step %d/%d: mean loss %.4f over the last %d logged steps", state.global_step,
                          state.max_steps, mean, len(self._losses))
            self._losses, self._last_step = [], state.global_step

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if metrics and "eval_loss" in metrics:
            self.log.info("step %d: eval loss %.4f", state.global_step, float(metrics["eval_loss"]))

    def on_train_end(self, args, state, control, **kw):
        self.log.info("training finished at step %d", state.global_step)
