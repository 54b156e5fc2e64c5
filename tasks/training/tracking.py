"""MLflow tracking: the experiment (always with an explicit artifact location), metrics from
the Trainer, the per-item eval table, the git commit of the code that trained, the loss-curve plot."""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path

from configs.errors import RegistryError

CODE_ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = "eval"
EVAL_TABLE = f"{EVAL_DIR}/items.json"  # MLflow's table view (mlflow.load_table reads it back)


def ensure_experiment(client, name: str, artifact_location: str) -> str:
    """The experiment's id, creating it with `artifact_location` (never the cwd's ./mlruns)."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        if "://" not in artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
            artifact_location = Path(artifact_location).as_uri()
        return client.create_experiment(name, artifact_location=artifact_location)
    if exp.lifecycle_stage == "deleted":
        raise RegistryError(f"MLflow experiment {name!r} is deleted; restore it or set mlflow.experiment_name")
    return exp.experiment_id


class MetricsSink:
    """`sink(metrics, step)` writing to one MLflow run through the client (no global state)."""

    def __init__(self, client, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric
        import time

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, int(step)) for k, v in metrics.items() if math.isfinite(float(v))]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)


def log_eval_items(client, run_id: str, items_path: Path, *, artifact_uri: str) -> str:
    """The per-item eval rows as MLflow's table `eval/items.json` and as the JSON-lines file under
    `eval/`; returns that file's artifact URI (what a gate reads).

    `log_table` appends to a table the run already has, so a continued run (an earlier attempt
    got this far) overwrites it instead: the table keeps one row per eval item.
    """
    import pandas as pd

    rows = [json.loads(line) for line in Path(items_path).read_text(encoding="utf-8").splitlines() if line]
    table = pd.DataFrame(rows)
    if EVAL_TABLE in {a.path for a in client.list_artifacts(run_id, EVAL_DIR)}:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(EVAL_TABLE).name
            table.to_json(path, orient="split", index=False)  # log_table's own format
            client.log_artifact(run_id, str(path), EVAL_DIR)
    else:
        client.log_table(run_id, table, EVAL_TABLE)
    client.log_artifact(run_id, str(items_path), EVAL_DIR)
    return f"{artifact_uri}/{EVAL_DIR}/{Path(items_path).name}"


def git_commit(repo: Path = CODE_ROOT) -> str:
    """HEAD of the code's repository (`+dirty` with uncommitted changes), or 'unknown'."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def plot_loss_curve(history: list[tuple[int, float]], path: Path, title: str = "training loss") -> Path:
    """A PNG of loss against step (matplotlib, no display needed), logged with the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if history:
        steps, losses = zip(*history)
        ax.plot(steps, losses, marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
