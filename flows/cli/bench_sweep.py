"""`mlops bench sweep`: the highest request rate at which `--attainment` of all requests meet every
`--slo` (capacity at an SLO), by open-loop runs at rising, then narrowing, rates.

The options that set a `CapacityConfig` or `BenchmarkConfig` field are derived from that field
(type, default, bounds, description); `CAP_OPTIONS`/`BENCH_OPTIONS` only say which fields and
under what flag. Values are checked by the configs themselves; a bad one is one `error:` line
naming its flag, exit code 2.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig

# field -> its flag, where the flag is not the field's name (None: `--field-name`).
CAP_OPTIONS: dict[str, str | None] = {
    "attainment": None, "start_rate_per_s": "--start-rate", "max_rate_per_s": "--max-rate",
    "min_rate_per_s": "--min-rate", "growth_factor": None, "resolution": None, "duration_s": None,
    "min_requests": None, "max_steps": None,
}
BENCH_OPTIONS: dict[str, str | None] = {
    "max_tokens": None, "endpoint": None, "dataset_path": "--dataset", "burstiness": None, "seed": None,
    "ignore_eos": None, "warmup_requests": "--warmup", "request_timeout_s": "--timeout-s",
}
SLO_FLAGS = {f"slo_{name}_ms": f"--slo {name}:MS" for name in ("ttft", "tpot", "e2el")}

_OWN: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default); ... = required
    "base_url": (Annotated[str, typer.Option(help="server (vLLM or the gateway), e.g. http://127.0.0.1:8000")], ...),
    "model": (Annotated[str, typer.Option(help="the served model name")], ...),
    "slo": (Annotated[Optional[list[str]], typer.Option(help="latency SLO as NAME:MS (ttft, tpot, e2el); repeatable; "
                                                        "at least one")], None),
    "result_file": (Annotated[Path, typer.Option(help="write the sweep JSON here (plot beside it)")], ...),
    "plot_file": (Annotated[Optional[Path], typer.Option(help="plot PNG (default: beside the result)")], None),
    "log_dir": (Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")], None),
    "api_key_env": (Annotated[str, typer.Option(help="environment variable holding the Bearer key")],
                    "OPENAI_API_KEY"),
}


def _flag(field: str) -> str:
    given = {**CAP_OPTIONS, **BENCH_OPTIONS}.get(field)
    return given or SLO_FLAGS.get(field) or "--" + field.replace("_", "-")


def _bounds(model: type[BaseModel], name: str) -> str:
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return ", ".join(f"{symbols[a]} {getattr(m, a):g}" for m in model.model_fields[name].metadata
                     for a in symbols if hasattr(m, a))


def _field_option(model: type[BaseModel], field: str, flag: str | None) -> inspect.Parameter:
    info = model.model_fields[field]
    bounds = _bounds(model, field)
    help_text = f"{info.description}{f' [{bounds}]' if bounds else ''}"
    option = typer.Option(flag, help=help_text) if flag else typer.Option(help=help_text)
    return inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[info.annotation, option],
                             default=info.default)


def _signature() -> inspect.Signature:
    def own(name: str) -> inspect.Parameter:
        annotation, default = _OWN[name]
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=inspect.Parameter.empty if default is ... else default)

    params = [own("base_url"), own("model"), own("slo")]
    params += [_field_option(CapacityConfig, f, flag) for f, flag in CAP_OPTIONS.items()]
    params += [_field_option(BenchmarkConfig, f, flag) for f, flag in BENCH_OPTIONS.items()]
    params += [own(n) for n in ("result_file", "plot_file", "log_dir", "api_key_env")]
    return inspect.Signature(params, return_annotation=None)


def _configs(options: dict[str, Any]) -> tuple[BenchmarkConfig, CapacityConfig]:
    """The options as the two configs; a bad value is a usage error naming its flag (exit 2)."""
    from pydantic import ValidationError

    from flows.cli._args import usage_error
    from tasks.benchmark.metrics import parse_goodput

    try:
        slos = parse_goodput(options["slo"] or [])
    except ValueError as exc:
        raise usage_error(str(exc).replace("--goodput", "--slo")) from None
    try:
        bench = BenchmarkConfig(**{f: options[f] for f in BENCH_OPTIONS})
        cap = CapacityConfig.from_slos(slos, **{f: options[f] for f in CAP_OPTIONS})
    except ValidationError as exc:
        raise usage_error("; ".join(_message(e) for e in exc.errors())) from None
    return bench, cap


def _message(error: Any) -> str:
    """One pydantic error with field names turned into the flags a user typed."""
    msg = re.sub(r"^Value error, ", "", error["msg"])
    if error["loc"]:
        return f"{_flag(str(error['loc'][0]))}: {msg}"
    for field in sorted({*CAP_OPTIONS, *SLO_FLAGS}, key=len, reverse=True):
        msg = msg.replace(field, _flag(field))
    return msg


def sweep(**options: Any) -> None:
    """Find the highest request rate meeting the SLO (capacity at an SLO); one line per rate tried."""
    from flows.cli._args import base_url as check_url
    from flows.cli._args import folder_path, output_path

    base_url = check_url(options["base_url"], "--base-url")
    result_file = output_path(options["result_file"], "--result-file")
    plot_file = output_path(options["plot_file"], "--plot-file") or result_file.with_suffix(".png")
    log_dir = folder_path(options["log_dir"], "--log-dir")
    bench_cfg, cap = _configs(options)

    from logging_lib import InferenceLogger
    from tasks.benchmark.sweep import plot_sweep, run_sweep, step_line

    api_key = os.environ.get(options["api_key_env"]) or None
    with InferenceLogger("benchmark", str(log_dir) if log_dir else None) as logger:
        result = run_sweep(bench_cfg, cap, base_url, options["model"], logger=logger, api_key=api_key,
                           result_file=result_file, progress=lambda step: typer.echo(step_line(step)))
    plot_sweep(result, plot_file)
    typer.echo(result.summary())
    typer.echo(f"max_rate_meeting_slo: {result.max_rate_meeting_slo_per_s} requests/s ({result.bound})")
    typer.echo(f"plot: {plot_file}")
    typer.echo(f"result: {result_file}")


sweep.__signature__ = _signature()  # type: ignore[attr-defined]  # typer reads the options from here
