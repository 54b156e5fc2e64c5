"""A whole benchmark run: prompts -> open-loop load -> metrics -> result JSON (+ quality).

The result is a typed `results.BenchmarkResult`; its JSON uses vLLM's `--save-result` key
names (`completed`, `failed`, `duration`, `request_throughput`, `mean_ttft_ms`, ...: latencies
from each request's actual send, as vLLM's) plus ours: `p50_*`/`p95_*`, the schedule-based
`*_sched_ttft_ms`/`*_sched_e2el_ms` (from the planned send time), `send_lag_p99_ms`, `goodput`,
`success_rate`, `quality` and per-request details under `requests`. A failed request is data; the run fails (BenchmarkError) only below
`min_success_rate`, after the result has been written.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from configs.benchmark import BenchmarkConfig
from configs.errors import BenchmarkError
from logging_lib import InferenceLogger, bind_context
from tasks.benchmark.client import RequestInput, RequestOutput
from tasks.benchmark.dataset import load_prompts, make_inputs
from tasks.benchmark.metrics import calculate_metrics, tpot_of
from tasks.benchmark.results import BenchmarkResult, QualitySummary, RequestRecord, write_result
from tasks.benchmark.runner import LoadShape, OnResult, OnStart, run_load_sync


def request_record(o: RequestOutput) -> RequestRecord:
    tpot = tpot_of(o)
    return RequestRecord(
        request_id=o.request_id, success=o.success, status=o.status, error=o.error or None,
        planned_s=round(o.planned_s, 6), send_lag_ms=round(o.send_lag * 1000, 3),
        ttft_ms=round(o.ttft * 1000, 3) if o.success else None,
        e2el_ms=round(o.latency * 1000, 3) if o.success else None,
        tpot_ms=round(tpot * 1000, 3) if tpot is not None else None,
        prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens,
    )


def log_callbacks(logger: InferenceLogger | None, model: str) -> tuple[OnStart | None, OnResult | None]:
    """The InferenceLogger's benchmark events for each request, named by the request's own model
    (else `model`); none without a logger."""
    if logger is None:
        return None, None

    def on_start(req: RequestInput) -> None:
        logger.log_benchmark_request(req.request_id, req.prompt, req.model or model)

    def on_result(req: RequestInput, out: RequestOutput) -> None:
        name = req.model or model
        if out.success:
            logger.log_benchmark_response(req.request_id, latency_ms=round(out.latency * 1000, 3),
                                          tokens_generated=out.output_tokens, model_name=name,
                                          ttft_ms=round(out.ttft * 1000, 3), prompt_tokens=out.prompt_tokens,
                                          send_lag_ms=round(out.send_lag * 1000, 3))
        else:
            logger.log_benchmark_error(req.request_id, out.error, model_name=name, status=out.status)

    return on_start, on_result


def assemble_result(cfg: BenchmarkConfig, outputs: list[RequestOutput], duration_s: float, *, started: datetime,
                    run_id: str, base_url: str, model: str,
                    quality: QualitySummary | None = None) -> BenchmarkResult:
    """The load shape asked for, the aggregates, the per-request samples and quality, as one value."""
    return BenchmarkResult(
        date=started.strftime("%Y%m%d-%H%M%S"), benchmark_run_id=run_id,
        backend="openai-chat" if cfg.endpoint == "chat" else "openai", base_url=base_url, model_id=model,
        num_prompts=cfg.num_prompts, request_rate_per_s=cfg.request_rate, burstiness=cfg.burstiness,
        max_concurrency=cfg.max_concurrency, max_tokens=cfg.max_tokens, seed=cfg.seed,
        metrics=calculate_metrics(outputs, duration_s, goodput_slos_ms=cfg.goodput_slos_ms(),
                                  percentiles=cfg.percentiles),
        input_lens=tuple(o.prompt_tokens for o in outputs), output_lens=tuple(o.output_tokens for o in outputs),
        ttfts=tuple(o.ttft for o in outputs), itls=tuple(tuple(o.itl) for o in outputs),
        latencies=tuple(o.latency for o in outputs),
        errors=tuple(o.error for o in outputs), requests=tuple(request_record(o) for o in outputs),
        **(quality.result_fields() if quality is not None else {"quality": None}),
    )


def run_benchmark(cfg: BenchmarkConfig, base_url: str, model: str, *, logger: InferenceLogger | None = None,
                  api_key: str | None = None, run_id: str | None = None, quality: QualitySummary | None = None,
                  result_file: Path | None = None, check_success: bool = True) -> BenchmarkResult:
    """Run the load described by `cfg`; write `result_file` if given; return the result."""
    run_id = run_id or uuid.uuid4().hex
    prompts = load_prompts(cfg.dataset_path, cfg.num_prompts, cfg.seed)
    inputs = make_inputs(prompts, cfg.max_tokens, run_id)
    shape = LoadShape(base_url=base_url, model=model, endpoint=cfg.endpoint, request_rate=cfg.request_rate,
                      burstiness=cfg.burstiness, max_concurrency=cfg.max_concurrency, seed=cfg.seed,
                      warmup_requests=cfg.warmup_requests, temperature=cfg.temperature, ignore_eos=cfg.ignore_eos,
                      request_timeout_s=cfg.request_timeout_s, api_key=api_key)

    on_start, on_result = log_callbacks(logger, model)
    started = datetime.now(timezone.utc)
    with bind_context(benchmark_run_id=run_id):
        outputs, duration = run_load_sync(shape, inputs, on_start=on_start, on_result=on_result)
    result = assemble_result(cfg, outputs, duration, started=started, run_id=run_id, base_url=base_url, model=model,
                             quality=quality)
    if result_file is not None:
        write_result(result, Path(result_file))
    m = result.metrics
    if check_success and m.success_rate < cfg.min_success_rate:
        first = next((o.error for o in outputs if not o.success), "")
        raise BenchmarkError(f"benchmark success rate {m.success_rate:.1%} is below min_success_rate "
                             f"{cfg.min_success_rate:.1%} ({m.failed} of {len(outputs)} failed; "
                             f"first error: {first})")
    return result
