"""Logs written by the real code paths, built once per test session for the observability tests.

Nothing here writes a log line itself; production code does, in this order (about a minute on
two idle cores):

1. the gateway (`BackgroundGateway`) in front of the stub backend, and the benchmark client
   (`run_benchmark`, as `mlops bench` runs it) through it: a clean benchmark of `CLEAN_N`
   requests for one served model;
2. two tiny QLoRA training runs through `mlops train` (each in its own process), each with
   its GPUMonitor (here without a GPU: `gpu_unavailable`, then `system_metrics`), so two
   MLflow run ids: a "by run" panel must show two series;
3. a second benchmark for another served model whose backend answers two requests with 503,
   one with 400 and one after more than a second: real `inference_error`, 4xx/5xx `api_response`
   and `benchmark_error` lines, and a slow request;
4. a training run that fails (no example fits `model.max_seq_len`): a real `training_error`.

After each benchmark the promotion gate (`decide`, `apply_decision`, `log_decision`) decides
on its result as the flows do: the clean one passes, the faulty one is rejected, so
`promotion_decision` lines say `passed` true, then false.

The moments between the phases are kept, so tests can query "just after the clean benchmark"
or "while everything was healthy" (after 2, before 3).
"""

from __future__ import annotations

import json
import time
import types
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, run_cli

CLEAN_N = 10
MODELS = ("tiny-chat-lora-v1", "tiny-chat-lora-v2")
REGISTERED = "tiny-chat-lora"      # the registered model both served names are versions of
EXAMPLE_BENCH_RUN = "example0"
EXAMPLE_REQUEST_ID = f"bench-{EXAMPLE_BENCH_RUN}-00000"  # the id docs/observability.md follows through the logs
TINY_TRAINING = [
    "train.max_steps=6", "train.logging_steps=2", "train.eval_steps=3", "train.save_steps=100",
    "train.per_device_batch_size=4", "train.monitor_interval_s=0.5", "eval.before_training=false",
    "eval.max_examples=4", "eval.require_improvement=false", "mlflow.register_model=false",
    "mlflow.log_system_metrics=false",
]


@dataclass(frozen=True)
class RealLogs:
    root: Path                      # the log folder (logs/<type>/*.log)
    run_ids: tuple[str, str]        # the two finished training runs
    failed_run_id: str              # the training run that failed
    clean_model: str                # served model of the clean benchmark (CLEAN_N requests, all ok)
    faulty_model: str               # served model of the benchmark with failures
    faulty_n: int
    faulty_failed: int
    clean_bench_end_ms: int         # just after the clean benchmark
    healthy_end_ms: int             # after the two good training runs, before any failure
    faulty_bench_end_ms: int        # just after the benchmark with failures
    end_ms: int                     # after everything
    gpu: bool                       # the monitor found a GPU (then gpu_metrics exist)


_BUILT: dict[str, RealLogs] = {}


def real_logs(tmp_path_factory: pytest.TempPathFactory) -> RealLogs:
    """The session's real logs, built on first use."""
    if "logs" not in _BUILT:
        _BUILT["logs"] = _build(tmp_path_factory.mktemp("real-logs"))
    return _BUILT["logs"]


def _now_ms() -> int:
    return int(time.time() * 1000) + 1


def _build(root: Path) -> RealLogs:
    from configs.serving import GatewayConfig
    from testkit.stub_vllm import StubServer
    from tasks.gateway.server import BackgroundGateway

    log_dir, data_dir = root / "logs", root / "data"
    stub = StubServer(ttft_ms=20, itl_ms=5).start_in_thread()
    gateway = BackgroundGateway(GatewayConfig(backend_url=stub.base_url, port=0), log_dir=str(log_dir)).start()
    try:
        _gate(_bench(gateway.base_url, MODELS[0], root / "clean.jsonl", [{}] * CLEAN_N, log_dir, "clean000"),
              log_dir, "1")
        clean_end = _now_ms()
        run_a = _train(root, data_dir, log_dir, "obs-a")
        run_b = _train(root, data_dir, log_dir, "obs-b")
        healthy_end = _now_ms()
        faults = [{}, {"status": 503}, {"ttft_ms": 1100}, {}, {"status": 400}, {}, {"status": 503}, {}]
        _gate(_bench(gateway.base_url, MODELS[1], root / "faulty.jsonl", faults, log_dir, EXAMPLE_BENCH_RUN),
              log_dir, "2")
        faulty_end = _now_ms()
    finally:
        gateway.stop()
        stub.stop_thread()
    failed = _train(root, data_dir, log_dir, "obs-fail", "model.max_seq_len=9", fails=True)
    gpu = any('"gpu_metrics"' in p.read_text() for p in (log_dir / "system").glob("*.log"))
    return RealLogs(log_dir, (run_a, run_b), failed, MODELS[0], MODELS[1], len(faults),
                    sum(1 for f in faults if "status" in f), clean_end, healthy_end, faulty_end, _now_ms(), gpu)


def _bench(base_url: str, model: str, dataset: Path, stubs: list[dict], log_dir: Path, run_id: str) -> Any:
    """One benchmark through the gateway, logged as `mlops bench` logs it; returns its result."""
    from configs.benchmark import BenchmarkConfig
    from logging_lib import InferenceLogger
    from tasks.benchmark.bench import run_benchmark

    dataset.write_text("\n".join(json.dumps({"prompt": f"What is the capital of country {i}?",
                                              "extra_body": {"stub": s} if s else {}})
                                  for i, s in enumerate(stubs)) + "\n")
    cfg = BenchmarkConfig(num_prompts=len(stubs), max_tokens=4, max_concurrency=4, warmup_requests=0,
                          dataset_path=dataset, min_success_rate=0.0)
    with InferenceLogger("benchmark", str(log_dir)) as logger:
        return run_benchmark(cfg, base_url, model, logger=logger, run_id=run_id)


def _gate(result: Any, log_dir: Path, version: str) -> None:
    """The gate on a benchmark result, as promotion_gate_task runs it (no registry here: a pass
    moves no alias), writing its `promotion_decision` event."""
    from configs.promotion import PromotionConfig
    from tasks.promotion.decision_log import log_decision
    from tasks.promotion.gate import apply_decision, decide

    cfg = PromotionConfig(require_quality=False)
    out = apply_decision(decide(result, cfg, None), "unused", REGISTERED, version, cfg, promote=lambda *a, **k: None)
    log_decision(out, log_dir, model_name=REGISTERED, version=version)


def _train(root: Path, data_dir: Path, log_dir: Path, run_name: str, *extra: str, fails: bool = False) -> str:
    """One tiny training run through `mlops train` (its own process, as a user runs it: MLflow's
    and torch's process-wide state stay out of the test session); returns its MLflow run id,
    also when the run fails."""
    sets = [f"paths.data_dir={data_dir}", f"train.run_name={run_name}", *TINY_TRAINING, *extra]
    proc = run_cli("train", "--config", str(REPO_ROOT / "configs" / "tiny.yaml"), "--log-dir", str(log_dir),
                   *[arg for s in sets for arg in ("--set", s)], cwd=root, timeout=600)
    marker = data_dir / "runs" / run_name / "mlflow_run.json"
    if not marker.exists():
        raise RuntimeError(f"mlops train {run_name} did not start an MLflow run:\n{proc.stderr[-3000:]}")
    if (proc.returncode != 0) != fails:
        raise RuntimeError(f"mlops train {run_name} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(marker.read_text())["run_id"]


def fake_nvml(memory_percent: list[float], temperature_c: list[float]) -> types.ModuleType:
    """A stand-in for `pynvml` reporting one GPU per list entry: the monitor's GPU path on a
    machine without a GPU (its device is faked, its code and log lines are real)."""
    nv = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    total = 80 * 1024**3
    nv.NVMLError = NVMLError
    nv.NVML_TEMPERATURE_GPU = 0
    nv.nvmlInit = nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: len(memory_percent)
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=int(total * memory_percent[h] / 100), total=total)
    nv.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=90)
    nv.nvmlDeviceGetTemperature = lambda h, kind: temperature_c[h]
    nv.nvmlDeviceGetPowerUsage = lambda h: 300_000
    return nv
