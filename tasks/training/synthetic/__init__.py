"""Generated datasets, split held-out by construction: each generator returns (train, eval)
rows whose eval side shares no normalised prompt and no template with training (and, for the
extraction task, no entity value either); tests assert it on the generated rows."""

from __future__ import annotations

from typing import Any

from configs.data import GeneratedDataConfig

Rows = list[dict[str, Any]]


def generate_split(cfg: GeneratedDataConfig, eval_fraction: float) -> tuple[Rows, Rows]:
    """The (train, eval) rows of the configured generated task; deterministic for the config."""
    if cfg.task == "capitals":
        from tasks.training.synthetic.capitals import generate_capitals

        return generate_capitals(cfg, eval_fraction)
    if cfg.task == "extraction":
        from tasks.training.synthetic.extraction import generate_extraction

        return generate_extraction(cfg, eval_fraction)
    raise ValueError(f"unknown generated task {cfg.task!r}")
