"""`mlops train`: fine-tune, evaluate, track in MLflow and register one adapter version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

CODE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = CODE_ROOT / "configs" / "local.yaml"


def log_dir_for(cli_value: Optional[Path], cfg_value: Optional[Path], config_path: Path) -> Path:
    """--log-dir, else paths.log_dir, else $MLOPS_LOG_DIR, else <project root>/logs."""
    import os

    from configs.loader import project_root_for
    from logging_lib import LOG_DIR_ENV, resolve_log_dir

    chosen = cli_value or cfg_value or os.environ.get(LOG_DIR_ENV) or project_root_for(config_path) / "logs"
    return resolve_log_dir(str(chosen))


def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="pipeline YAML")] = DEFAULT_CONFIG,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override one field: section.field=value")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="typed logs; default paths.log_dir, $MLOPS_LOG_DIR, <root>/logs")] = None,
) -> None:
    """Fine-tune the configured base with (Q)LoRA, evaluate it, log to MLflow and register it."""
    from configs.loader import load_config
    from configs.settings import Settings
    from flows.cli._quality import base_vs_tuned
    from tasks.training.mlflow_run import run_training

    cfg = load_config(config, set_ or [])
    out = run_training(cfg, Settings(), log_dir_for(log_dir, cfg.paths.log_dir, config))
    m = out.metrics
    typer.echo(f"mlflow run id:      {out.run_id}")
    typer.echo(f"adapter path:       {out.adapter_dir}")
    typer.echo(f"registered version: {f'{out.model_name} version {out.version}' if out.version else 'not registered'}")
    for line in base_vs_tuned(m, width=19):
        typer.echo(line)
    typer.echo(f"eval loss:          {m.get('base_eval_loss', float('nan')):.4f} (base) -> "
               f"{m['final_eval_loss']:.4f} (fine-tuned)")
