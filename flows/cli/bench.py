"""`mlops bench [run]`: an open-loop streaming benchmark of an OpenAI-compatible server;
`mlops bench sweep` and `mlops bench compare` are its other sub-commands (`run` is the default,
so `mlops bench --base-url ...` is a run).

The options that set a `BenchmarkConfig` field are derived from that field (type, default,
bounds, description; `CONFIG_OPTIONS` only says which fields and under what flag), and their
values are checked by `BenchmarkConfig` itself; the options below it are the CLI's own.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from configs.benchmark import BenchmarkConfig, bounds_text
from flows.cli._default_group import DefaultGroup
from flows.cli.bench_compare import compare

app = typer.Typer(cls=DefaultGroup, no_args_is_help=True,
                  help="Benchmark an OpenAI-compatible server: one run (default), a capacity sweep at an SLO, "
                       "or compare result files.")

# BenchmarkConfig field -> its flag, where the flag is not the field's name (None: `--field-name`).
CONFIG_OPTIONS: dict[str, str | None] = {
    "num_prompts": None, "request_rate": None, "burstiness": None, "max_concurrency": None, "max_tokens": None,
    "dataset_path": "--dataset", "seed": None, "endpoint": None, "warmup_requests": "--warmup",
    "min_success_rate": None, "request_timeout_s": "--timeout-s", "ignore_eos": None, "eval_path": "--eval-file",
    "eval_max_tokens": None,
}

_CLI_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default); ... = required
    "base_url": (Annotated[str, typer.Option(help="server (vLLM or the gateway), e.g. http://127.0.0.1:8080")], ...),
    "model": (Annotated[str, typer.Option(help="the served model name")], ...),
    "base_model": (Annotated[Optional[str], typer.Option(help="the base's served name when --model is an adapter: "
                                                          "--eval-file quality scores it too, on the same items")],
                   None),
    "result_file": (Annotated[Optional[Path], typer.Option(help="write the result JSON here (plot beside it)")], None),
    "goodput": (Annotated[Optional[list[str]], typer.Option(help="SLO as NAME:MS (ttft, tpot, e2el); repeatable")],
                None),
    "plot_file": (Annotated[Optional[Path], typer.Option(help="latency plot PNG (default: beside the result)")], None),
    "log_dir": (Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")], None),
    "api_key_env": (Annotated[str, typer.Option(help="environment variable holding the Bearer key")],
                    "OPENAI_API_KEY"),
}


def flag(field: str) -> str:
    return CONFIG_OPTIONS[field] or "--" + field.replace("_", "-")


def _config_option(field: str) -> inspect.Parameter:
    info = BenchmarkConfig.model_fields[field]
    bounds = bounds_text(field)
    help_text = f"{info.description}{f' [{bounds}]' if bounds else ''}"
    option = typer.Option(CONFIG_OPTIONS[field], help=help_text) if CONFIG_OPTIONS[field] else typer.Option(help=help_text)
    return inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[info.annotation, option],
                             default=info.default)


def _signature() -> inspect.Signature:
    def own(name: str) -> inspect.Parameter:
        annotation, default = _CLI_OPTIONS[name]
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=inspect.Parameter.empty if default is ... else default)

    params = [own("base_url"), own("model"), *(_config_option(f) for f in CONFIG_OPTIONS)]
    params += [own(n) for n in _CLI_OPTIONS if n not in ("base_url", "model")]
    return inspect.Signature(params, return_annotation=None)


def _config(options: dict[str, Any]) -> BenchmarkConfig:
    """The options as a BenchmarkConfig; a bad value is a usage error naming its flag (exit 2)."""
    from pydantic import ValidationError

    from flows.cli._args import usage_error
    from tasks.benchmark.metrics import parse_goodput

    try:
        slos = parse_goodput(options["goodput"] or [])
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    values = {f: options[f] for f in CONFIG_OPTIONS}
    values.update({f"goodput_{name}_ms": ms for name, ms in slos.items()})
    try:
        return BenchmarkConfig(**values)
    except ValidationError as exc:
        raise usage_error("; ".join(f"{_flag_of(e['loc'])}: {e['msg']}" for e in exc.errors())) from None


def _flag_of(loc: tuple[Any, ...]) -> str:
    field = loc[0] if loc else ""
    if field in CONFIG_OPTIONS:
        return flag(field)
    return "--goodput" if str(field).startswith("goodput_") else "bench options"


def bench(**options: Any) -> None:
    """Measure TTFT, ITL, TPOT, E2EL, throughput and goodput the way `vllm bench serve` does."""
    from flows.cli._args import base_url as check_url
    from flows.cli._args import folder_path, output_path

    base_url = check_url(options["base_url"], "--base-url")
    model = options["model"]
    result_file = output_path(options["result_file"], "--result-file")
    plot_file = output_path(options["plot_file"], "--plot-file")
    log_dir = folder_path(options["log_dir"], "--log-dir")
    cfg = _config(options)

    from logging_lib import InferenceLogger
    from tasks.benchmark.bench import run_benchmark
    from tasks.benchmark.quality import ITEMS_FILE, evaluate_quality
    from tasks.benchmark.report import format_table, plot_latencies

    api_key = os.environ.get(options["api_key_env"]) or None
    quality = None
    if cfg.eval_path is not None:
        items = result_file.with_name(ITEMS_FILE) if result_file else None
        quality = evaluate_quality(cfg.eval_path, base_url, model, base_model=options["base_model"], items_file=items,
                                   max_examples=cfg.eval_max_examples, endpoint=cfg.endpoint,
                                   max_tokens=cfg.quality_max_tokens(), api_key=api_key)
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


bench.__signature__ = _signature()  # type: ignore[attr-defined]  # typer reads the options from here
app.command("run")(bench)

from flows.cli.bench_sweep import sweep  # noqa: E402  (its own module; registered after `run`, the default)

app.command("sweep")(sweep)
app.command("compare")(compare)
