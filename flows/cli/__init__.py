"""The `mlops` command. Each sub-command lives in its own module and is added here.

Errors derived from PipelineError are printed as one clear line and exit 1 (no traceback);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from flows.cli import logs as _logs
from flows.cli import demo as _demo
from flows.cli import retention as _retention
from flows.cli import registry as _registry
from flows.cli import train as _train
from flows.cli import bench as _bench
from flows.cli import gateway as _gateway
from flows.cli import pipeline as _pipeline
from flows.cli import promote as _promote
from flows.cli import stack as _stack

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Fine-tune, register, serve and benchmark LLMs; query the logs it all writes.")
app.add_typer(_logs.app, name="logs")
app.command("demo")(_demo.demo)
app.command("retention")(_retention.retention)
app.command("train")(_train.train)
app.add_typer(_registry.app, name="registry")
app.command("gateway")(_gateway.gateway)
app.add_typer(_bench.app, name="bench")
app.command("pipeline")(_pipeline.pipeline)
app.command("promote")(_promote.promote)
app.add_typer(_stack.app, name="stack")


# Prefect, MLflow and vLLM phone home unless told not to; nothing we start should.
TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "MLFLOW_DISABLE_TELEMETRY": "true", "VLLM_NO_USAGE_STATS": "1"}


def main() -> None:
    import os

    from logging_lib.errors import PipelineError

    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    try:
        app()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
