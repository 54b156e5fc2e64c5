"""`data`: the chat/instruction dataset and how it is split.

`path` / `eval_path` is a `.jsonl`, `.json` (an array of rows) or `.parquet` file (chosen by
suffix). A row is chat `{"messages": [{"role": ..., "content": ...}, ...]}` ending with an
assistant message, Alpaca `{"instruction": ..., "input": ... (optional), "output": ...}`, or
ShareGPT `{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}`.
Held out means disjoint: no eval row shares a normalised prompt with a training row (rows of
`eval_path` whose prompt training has are dropped and counted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from configs._base import Section


class GeneratedDataConfig(Section):
    """A generated task, split held-out by construction (tasks/training/synthetic/).
    `capitals`: the tiny model's smoke task (held out by question template); `extraction`:
    orders, tickets and invoices in free text -> JSON records (held out by template and by
    every entity value), the embedded default's task."""

    task: Literal["capitals", "extraction"] = "capitals"
    num_examples: int = Field(400, ge=20, description="train + eval rows")
    seed: int = 0


class DataConfig(Section):
    name: str = Field("capitals", pattern=r"^[A-Za-z0-9._-]+$", description="names the prepared split folder")
    path: Path | None = Field(None, description=".jsonl/.json/.parquet file with every row; split by eval_fraction")
    eval_path: Path | None = Field(None, description="optional held-out file (.jsonl/.json/.parquet); then `path` "
                                                     "is all training data")
    generate: GeneratedDataConfig | None = Field(None, description="write a synthetic dataset instead of reading `path`")
    eval_fraction: float = Field(0.15, gt=0, lt=1)
    max_eval_examples: int | None = Field(None, gt=0)
    on_bad_row: Literal["error", "skip"] = Field("error", description="error: raise with line/row numbers; "
                                                                       "skip: drop and count")
    split_seed: int = 0

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.path is None) == (self.generate is None):
            raise ValueError("give exactly one of `path` (a .jsonl, .json or .parquet file) and `generate` "
                             "(synthetic dataset)")
        if self.eval_path is not None and self.path is None:
            raise ValueError("`eval_path` needs `path` for the training rows")
        return self
