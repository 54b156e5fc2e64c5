"""What a flow decides before any stage runs: a unique run name per flow run, and where
relative paths in a request point."""

from __future__ import annotations

import re
from pathlib import Path
from configs.pipeline import PipelineConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # relative paths in a request mean this checkout


def with_run_name(cfg: PipelineConfig, flow_run_name: str | None) -> PipelineConfig:
    """A run folder per flow run: a Prefect retry of the same run resumes its checkpoints,
    while the next nightly run starts fresh instead of resuming a finished run."""
    if not flow_run_name:
        return cfg
    suffix = re.sub(r"[^A-Za-z0-9._-]+", "-", flow_run_name).strip("-")
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"run_name": f"{cfg.train.run_name}-{suffix}"})})


def resolve_under(path: Path, root: Path) -> Path:
    return path if path.is_absolute() else (root / path).resolve()
