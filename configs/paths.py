"""`paths`: where everything this project writes goes.

Relative paths in a config file never depend on the current directory: the loader resolves
them against the *project root*, which is the folder holding the config file's `configs/`
directory (for `<root>/configs/local.yaml` that is `<root>`); for a config file that does
not live in a `configs/` folder it is the folder holding the file itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from configs._base import Section


class PathsConfig(Section):
    data_dir: Path = Field(Path("data"), description="datasets, built base models, runs, checkpoints, MLflow store")
    log_dir: Path | None = Field(None, description="typed JSON-line logs; None: $MLOPS_LOG_DIR, else <root>/logs")

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"
