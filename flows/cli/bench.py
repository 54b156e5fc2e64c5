"""`mlops bench`: an open-loop streaming benchmark of an OpenAI-compatible server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer


def bench(
    base_url: Annotated[str, typer.Option(help="server (vLLM or the gateway), e.g. http://127.0.0.1:8080")],
    model: Annotated[str, typer.Option(help="the served model name")],
    num_prompts: Annotated[int, typer.Option(help="timed requests")] = 100,
    request_rate: Annotated[str, typer.Option(help="requests/s; 'inf' sends all at once")] = "inf",
    burstiness: Annotated[float, typer.Option(help="gamma shape: 1 Poisson, <1 burstier")] = 1.0,
    max_concurrency: Annotated[Optional[int], typer.Option(help="cap on requests in flight")] = None,
    max_tokens: Annotated[int, typer.Option(help="max_tokens per request")] = 64,
    dataset: Annotated[Optional[Path], typer.Option(help="JSONL of {'prompt'} or {'messages'}; default synthetic")] = None,
    seed: Annotated[int, typer.Option(help="seeds arrivals and synthetic prompts")] = 0,
    result_file: Annotated[Optional[Path], typer.Option(help="write the result JSON here (plot beside it)")] = None,
    endpoint: Annotated[str, typer.Option(help="chat or completions")] = "chat",
    warmup: Annotated[int, typer.Option(help="untimed warm-up requests")] = 1,
    goodput: Annotated[Optional[list[str]], typer.Option(help="SLO as NAME:MS (ttft, tpot, e2el); repeatable")] = None,
    min_success_rate: Annotated[float, typer.Option(help="fail the run below this success rate")] = 0.95,
    timeout_s: Annotated[float, typer.Option(help="per-request timeout")] = 300.0,
    ignore_eos: Annotated[bool, typer.Option(help="ask vLLM to generate exactly max_tokens")] = False,
    eval_file: Annotated[Optional[Path], typer.Option(help="held-out eval file: also score quality")] = None,
    plot_file: Annotated[Optional[Path], typer.Option(help="latency plot PNG (default: beside the result)")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the Bearer key")] = "OPENAI_API_KEY",
) -> None:
    """Measure TTFT, ITL, TPOT, E2EL, throughput and goodput the way `vllm bench serve` does."""
    import math

    from flows.cli._args import base_url as check_url
    from flows.cli._args import folder_path, output_path

    base_url = check_url(base_url, "--base-url")
    result_file, plot_file = output_path(result_file, "--result-file"), output_path(plot_file, "--plot-file")
    log_dir = folder_path(log_dir, "--log-dir")

    from pydantic import ValidationError

    from configs.benchmark import BenchmarkConfig
    from configs.errors import ConfigError
    from logging_lib import InferenceLogger
    from tasks.benchmark.bench import run_benchmark
    from tasks.benchmark.metrics import parse_goodput
    from tasks.benchmark.quality import evaluate_quality
    from tasks.benchmark.report import format_table, plot_latencies

    try:
        rate = math.inf if request_rate.strip().lower() in ("inf", "infinity") else float(request_rate)
        slos = parse_goodput(goodput or [])
        cfg = BenchmarkConfig(endpoint=endpoint, num_prompts=num_prompts, request_rate=rate, burstiness=burstiness,
                              max_concurrency=max_concurrency, max_tokens=max_tokens, dataset_path=dataset, seed=seed,
                              warmup_requests=warmup, min_success_rate=min_success_rate, request_timeout_s=timeout_s,
                              ignore_eos=ignore_eos, goodput_ttft_ms=slos.get("ttft"),
                              goodput_tpot_ms=slos.get("tpot"), goodput_e2el_ms=slos.get("e2el"))
    except ValueError as exc:  # ValidationError is a ValueError
        errs = exc.errors() if isinstance(exc, ValidationError) else None
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs) if errs else str(exc)
        raise ConfigError(f"bench options: {msg}") from exc
    api_key = os.environ.get(api_key_env) or None
    quality = None
    if eval_file is not None:
        quality = evaluate_quality(eval_file, base_url, model, endpoint=endpoint, max_tokens=max_tokens,
                                   api_key=api_key)
    with InferenceLogger("benchmark", str(log_dir) if log_dir else None) as logger:
        result = run_benchmark(cfg, base_url, model, logger=logger, api_key=api_key, quality=quality,
                               result_file=result_file, check_success=False)
    typer.echo(format_table(result))
    plot = plot_file or (result_file.with_suffix(".png") if result_file else None)
    if plot is not None:
        plot_latencies(result, plot)
        typer.echo(f"plot: {plot}")
    if result_file is not None:
        typer.echo(f"result: {result_file}")
    if result.metrics.success_rate < cfg.min_success_rate:
        from configs.errors import BenchmarkError

        errors = [e for e in result.errors if e]
        raise BenchmarkError(f"success rate {result.metrics.success_rate:.1%} is below --min-success-rate "
                             f"{cfg.min_success_rate:.1%}; first error: {errors[0] if errors else '?'}")
