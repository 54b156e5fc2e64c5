"""`mlops retention`: the log-retention flow's code, run from the shell (no Prefect needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def retention(
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    destination: Annotated[Optional[str], typer.Option(
        help="s3://BUCKET/PREFIX, prefect://s3-bucket/BLOCK_NAME (a prefect-aws S3Bucket block) or "
             "file:///ABSOLUTE/PATH; default: $MLOPS_DATA_DIR/backups/logs")] = None,
    retention_days: Annotated[Optional[float], typer.Option(help="archive files older than this (default 7)")] = None,
    keep_backups_days: Annotated[Optional[float], typer.Option(
        help="also delete archives of logs older than this from the destination")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would happen; change nothing")] = False,
) -> None:
    """Archive log files older than the retention age, upload and verify them, then delete them locally.

    Exits 1 when anything failed (nothing unverified is ever deleted).
    """
    from pydantic import ValidationError

    from configs.errors import ConfigError
    from configs.retention import RetentionConfig
    from logging_lib import resolve_log_dir
    from tasks.housekeeping.retention import retention_run

    overrides = {k: v for k, v in {"destination": destination, "retention_days": retention_days,
                                   "keep_backups_days": keep_backups_days}.items() if v is not None}
    try:
        config = RetentionConfig(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-') or 'options'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid retention options: {problems}") from exc
    root = resolve_log_dir(log_dir)
    url = config.destination_url()

    def progress(message: str) -> None:
        typer.echo(message)

    def on_retry(message: str) -> None:
        typer.echo(f"retrying: {message}", err=True)

    report = retention_run(root, config, url, dry_run=dry_run, progress=progress, on_retry=on_retry)
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)
