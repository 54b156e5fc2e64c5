"""`mlops demo`: drives all four typed loggers and the GPU monitor for a few seconds."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Annotated, Optional

import typer


def demo(
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    seconds: Annotated[float, typer.Option(help="how long to run")] = 3.0,
) -> None:
    """Write a short, realistic burst of training, inference, API and system events."""
    from logging_lib import (APILogger, GPUMonitor, InferenceLogger, TrainingLogger, bind_context,
                             resolve_log_dir)
    from logging_lib.schemas import iter_log_files, validate_file

    root = resolve_log_dir(log_dir)
    rng = random.Random(0)
    train = TrainingLogger("demo_qlora", root, console=False)
    infer = InferenceLogger("demo_gateway", root)
    api = APILogger("demo_gateway", root)
    deadline = time.monotonic() + seconds
    with GPUMonitor(root, interval=max(0.5, seconds / 4)) as monitor, bind_context(mlflow_run_id=uuid.uuid4().hex):
        step, loss = 0, 3.0
        train.log_epoch_start(epoch=1, total_epochs=1)
        while time.monotonic() < deadline:
            step += 1
            loss *= 0.98
            train.log_step(epoch=1, step=step, loss=round(loss, 4), learning_rate=2e-4)
            rid = f"req_{uuid.uuid4().hex[:12]}"
            with bind_context(request_id=rid):
                api.log_request(rid, "POST", "/v1/chat/completions", request_bytes=180)
                infer.log_request(rid, "What is machine learning?", "demo-model")
                latency = rng.uniform(50, 400)
                infer.log_response(rid, latency_ms=round(latency, 2), tokens_generated=rng.randint(10, 60),
                                   model_name="demo-model", ttft_ms=round(latency / 5, 2), prompt_tokens=7)
                api.log_response(rid, 200, duration_ms=round(latency + 1.5, 2), response_bytes=900)
            time.sleep(0.05)
        train.log_validation(epoch=1, val_loss=round(loss * 1.1, 4), val_accuracy=0.5)
        train.log_epoch_end(epoch=1, avg_loss=round(loss * 1.5, 4), time_elapsed=seconds)
        monitor.log_all_metrics()
    for lg in (train, infer, api):
        lg.close()
    files = [p for p in iter_log_files([root]) if p.parent.name in ("training", "inference", "system", "api")]
    typer.echo(f"wrote {step} training steps and {step} requests; files under {root}:")
    for path in sorted(files, key=lambda p: p.stat().st_mtime)[-8:]:
        report = validate_file(path)
        typer.echo(f"  {path}  ({report.lines} lines, {'valid' if report.ok else 'INVALID'})")
