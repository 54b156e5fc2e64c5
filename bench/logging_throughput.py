"""Logging throughput and per-call latency, four ways, side by side, one fresh process each.

    .venv/bin/python bench/logging_throughput.py [--lines 200000] [--repeats 3]

(a) raw preformatted bytes, one os.write per line (the limit)
(b) our TrainingLogger.log_step, 8 fields, default write-through mode
(c) structlog's fastest documented set-up: cached logger, orjson JSONRenderer, BytesLoggerFactory
(d) stdlib logging, FileHandler + a json.dumps formatter
Every variant hands each line to the OS before the call returns (b, c and d flush per line).
Targets (issue 2): b >= 1.5x c, b >= 3x d, b's p99 <= 20 us. Also: GPUMonitor CPU time per sample.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = dict(epoch=1, step=0, loss=0.2345, learning_rate=0.0001, gpu_memory_used=14336.0,
              gpu_memory_total=31744.0, grad_norm=1.25, samples_per_second=48.5)


def make_call(variant: str, directory: Path):
    """Return (call(i), close()) for one variant, set up outside the timed region."""
    if variant == "raw":
        fd = os.open(directory / "raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        line = (b'{"timestamp":"2026-11-26T08:00:00.000Z","level":"INFO","message":"training_step","logger":"bench",'
                b'"log_type":"training","epoch":1,"step":0,"loss":0.2345,"learning_rate":0.0001,'
                b'"gpu_memory_used":14336.0,"gpu_memory_total":31744.0,"grad_norm":1.25,"samples_per_second":48.5}\n')
        return (lambda i: os.write(fd, line)), (lambda: os.close(fd))
    if variant == "ours":
        from logging_lib import TrainingLogger

        log = TrainingLogger("bench", log_dir=str(directory))
        step = log.log_step

        def call(i: int) -> None:
            step(epoch=1, step=i, loss=0.2345, learning_rate=0.0001, gpu_memory_used=14336.0,
                 gpu_memory_total=31744.0, grad_norm=1.25, samples_per_second=48.5)

        return call, log.close
    if variant == "structlog":
        import orjson
        import structlog

        fh = open(directory / "structlog.log", "wb")
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(20),
            processors=[structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            logger_factory=structlog.BytesLoggerFactory(file=fh),
        )
        slog = structlog.get_logger()

        def call(i: int) -> None:
            slog.info("training_step", epoch=1, step=i, loss=0.2345, learning_rate=0.0001, gpu_memory_used=14336.0,
                      gpu_memory_total=31744.0, grad_norm=1.25, samples_per_second=48.5)

        return call, fh.close
    if variant == "stdlib":
        import logging

        class JsonFormatter(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return json.dumps({"timestamp": self.formatTime(record), "level": record.levelname,
                                   "message": record.getMessage(), "logger": record.name, **record.fields})

        handler = logging.FileHandler(directory / "stdlib.log")
        handler.setFormatter(JsonFormatter())
        lg = logging.getLogger("bench")
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False

        def call(i: int) -> None:
            lg.info("training_step", extra={"fields": {**FIELDS, "step": i}})

        return call, handler.close
    raise SystemExit(f"unknown variant {variant!r}")


def run_variant(variant: str, lines: int, repeats: int) -> dict:
    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            directory = Path(tmp) / f"r{r}"
            directory.mkdir()
            call, close = make_call(variant, directory)
            for i in range(1000):  # warm-up
                call(i)
            t0 = time.perf_counter()
            for i in range(lines):
                call(i)
            elapsed = time.perf_counter() - t0
            best = max(best, lines / elapsed)
            close()
        directory = Path(tmp) / "lat"
        directory.mkdir()
        call, close = make_call(variant, directory)
        clock = time.perf_counter_ns
        samples = []
        for i in range(min(lines, 100_000)):
            t0 = clock()
            call(i)
            samples.append(clock() - t0)
        close()
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] / 1000.0  # noqa: E731
    return {"variant": variant, "lines_per_s": best, "p50_us": pick(0.50), "p99_us": pick(0.99)}


def monitor_cost(samples: int) -> dict:
    from logging_lib import GPUMonitor

    with tempfile.TemporaryDirectory() as tmp:
        mon = GPUMonitor(log_dir=tmp, interval=1)
        mon.log_all_metrics()  # NVML probe and first psutil call are one-off costs
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(samples):
            mon.log_all_metrics()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        gpus = mon.gpu_count
        mon.close()
    per = cpu / samples
    return {"gpus": gpus, "cpu_ms_per_sample": per * 1000, "wall_ms_per_sample": wall / samples * 1000,
            "cpu_share_at_1s_interval_pct": per * 100}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--monitor", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.lines, args.repeats)))
        return
    if args.monitor:
        print(json.dumps(monitor_cost(200)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for variant in ("raw", "ours", "structlog", "stdlib"):
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--lines", str(args.lines),
                              "--repeats", str(args.repeats)], capture_output=True, text=True, env=env, check=True)
        results[variant] = json.loads(out.stdout)
    names = {"raw": "(a) raw bytes", "ours": "(b) TrainingLogger", "structlog": "(c) structlog fastest",
             "stdlib": "(d) stdlib + json"}
    print(f"{'variant':<24}{'lines/s':>12}{'p50 us':>10}{'p99 us':>10}")
    for key, r in results.items():
        print(f"{names[key]:<24}{r['lines_per_s']:>12,.0f}{r['p50_us']:>10.2f}{r['p99_us']:>10.2f}")
    b, c, d = (results[k]["lines_per_s"] for k in ("ours", "structlog", "stdlib"))
    p99 = results["ours"]["p99_us"]
    print(f"b/c = {b / c:.2f}x (target >= 1.5)   b/d = {b / d:.2f}x (target >= 3)   "
          f"b p99 = {p99:.1f} us (target <= 20)   b/a = {b / results['raw']['lines_per_s']:.2f}")
    out = subprocess.run([sys.executable, __file__, "--monitor"], capture_output=True, text=True, env=env, check=True)
    m = json.loads(out.stdout)
    print(f"GPUMonitor: {m['gpus']} GPU(s), {m['cpu_ms_per_sample']:.3f} ms CPU per sample "
          f"({m['wall_ms_per_sample']:.3f} ms wall) = {m['cpu_share_at_1s_interval_pct']:.3f}% of one core at 1 s")


if __name__ == "__main__":
    main()
