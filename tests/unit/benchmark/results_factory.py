"""Benchmark results for tests, made by the production code (`assemble_result` over request
outputs), so a test's result has every key a real run writes and nothing else."""

from __future__ import annotations

from datetime import datetime, timezone

from configs.benchmark import BenchmarkConfig
from tasks.benchmark.bench import assemble_result
from tasks.benchmark.client import RequestOutput
from tasks.benchmark.results import BenchmarkResult, QualitySummary


def make_result(completed: int, failed: int, ttft_s: float, quality: float | None,
                duration_s: float = 10.0) -> BenchmarkResult:
    """`completed` requests with TTFT `ttft_s` (so every TTFT percentile is `ttft_s` in ms), `failed` HTTP 503s."""
    outs = [RequestOutput(f"ok-{i}", success=True, status=200, ttft=ttft_s, itl=[0.01, 0.01], latency=ttft_s + 0.02,
                          prompt_tokens=8, output_tokens=3) for i in range(completed)]
    outs += [RequestOutput(f"bad-{i}", success=False, status=503, error="HTTP 503: busy") for i in range(failed)]
    q = None if quality is None else QualitySummary(examples=4, eval_path="eval.jsonl", tuned={"exact_match": quality})
    return assemble_result(BenchmarkConfig(num_prompts=max(1, completed + failed)), outs, duration_s,
                           started=datetime(2026, 11, 30, tzinfo=timezone.utc), run_id="test-run",
                           base_url="http://127.0.0.1:1", model="m", quality=q)
