"""`mlops pipeline`: the main job. Runs the `training-pipeline` flow in this process (against
$PREFECT_API_URL if set, else a local Prefect server that dies with this process), then the
`log-retention` flow, and prints where everything went."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from flows.cli.train import DEFAULT_CONFIG, log_dir_for


def pipeline(
    config: Annotated[Path, typer.Option("--config", "-c", help="pipeline YAML")] = DEFAULT_CONFIG,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override one field: section.field=value")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="typed logs; default paths.log_dir, $MLOPS_LOG_DIR, <root>/logs")] = None,
    serve: Annotated[bool, typer.Option(help="deploy to vLLM, benchmark and run the promotion gate")] = True,
    backup: Annotated[bool, typer.Option(help="run log retention (archive + backup) afterwards")] = True,
) -> None:
    """Train, register, deploy, benchmark and promote: the whole pipeline, end to end."""
    from configs.loader import load_config
    from flows.cli._quality import base_vs_tuned
    from tasks.benchmark.results import QUALITY_KEYS

    cfg = load_config(config, set_ or [])  # fail on a bad config before Prefect starts
    logs = log_dir_for(log_dir, cfg.paths.log_dir, config)
    with _prefect_api(cfg.paths.data_dir):
        typer.echo(f"==> training-pipeline on {config} (logs: {logs})")
        from flows.pipeline import training_pipeline

        out = training_pipeline(config_path=str(config.resolve()), overrides=list(set_ or []), log_dir=str(logs),
                                deploy_and_benchmark=serve)
        retention = None
        if backup:
            from flows.housekeeping import log_retention

            typer.echo(f"==> log-retention (older than {cfg.retention.retention_days:g} days)")
            settings = cfg.retention
            if settings.destination is None:  # back up beside this config's data, not the checkout's
                backups = cfg.paths.data_dir / "backups" / "logs"
                settings = settings.model_copy(update={"destination": backups.as_uri()})
            retention = log_retention(retention=settings, log_dir=str(logs))
    m = out["metrics"]
    typer.echo("")
    typer.echo(f"logs:                {logs}/{{training,inference,system,api,vllm}}")
    typer.echo(f"mlflow run:          {out['mlflow_run_id']}  (tracking {out['tracking_uri']})")
    typer.echo(f"registered version:  {out['model_ref']}  adapter {out['adapter_dir']}")
    for line in base_vs_tuned(m):
        typer.echo(line)
    if serve:
        b = out["benchmark"]
        typer.echo(f"benchmark:           {b['completed']} ok / {b['failed']} failed, p99 TTFT {b['p99_ttft_ms']:.1f} ms, "
                   f"quality {'n/a' if b['quality'] is None else format(b['quality'], '.3f')}")
        served = {f"{side}_{metric}": b.get(key) for side, keys in QUALITY_KEYS.items() for metric, key in keys.items()}
        for line in base_vs_tuned(served, tuned="tuned_", where="vLLM"):  # the same items, served
            typer.echo(line)
        typer.echo(f"benchmark report:    {out['report']}  (result {b['result_file']}, plot {b['plot_file']})")
        if out.get("head_to_head"):
            h2h = out["head_to_head"]
            typer.echo(f"head to head:        vs champion v{out['gate']['champion_version']}: {h2h['markdown_file']}  "
                       f"(forest plot {h2h['plot_file']})")
        typer.echo(f"promotion:           {'champion' if out['promoted'] else 'stays candidate'}: {out['gate']['summary']}")
    if retention is not None:
        typer.echo(f"backup:              {retention['destination']}  ({len(retention['archive_keys'])} archive(s) "
                   f"this run, {retention['deleted']} file(s) moved)")


def _prefect_api(data_dir: Path) -> AbstractContextManager[object]:
    """$PREFECT_API_URL when set; else a local Prefect server of our own that dies with this
    process even on SIGKILL (Prefect's own temporary one would outlive it)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return nullcontext()
    import time

    from tasks.pipeline.prefect_server import guarded_local_server

    log_path = data_dir / "prefect" / f"server_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}.log"
    typer.echo(f"==> starting a local Prefect server for this run (log: {log_path})")
    return guarded_local_server(log_path)
