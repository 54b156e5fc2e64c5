"""The per-item eval rows in a real (SQLite) MLflow store: a table with one row per item, the
JSON-lines file beside it, and a continued run that overwrites rather than doubles the table."""

from __future__ import annotations

import json
from pathlib import Path

from configs.loader import load_config
from tasks.training.data import prepare_data
from tasks.training.eval_metrics import load_eval_examples
from tasks.training.evaluation import item_rows, scored_result, write_item_rows

TINY = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"


def _items_file(tmp_path: Path, name: str, answer: str) -> tuple[Path, list[dict]]:
    cfg = load_config(TINY, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=40"])
    examples = load_eval_examples(prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path)
    before = scored_result(examples, ["?"] * len(examples), eval_loss=3.0)
    after = scored_result(examples, [answer or e.reference for e in examples], eval_loss=0.3)
    rows = item_rows(before, after)
    (tmp_path / name).mkdir()
    return write_item_rows(tmp_path / name / "eval_items.jsonl", rows), rows


def test_items_are_logged_as_a_table_and_a_file_and_a_continued_run_overwrites_them(tmp_path):
    import mlflow

    from tasks.registry.versions import client_for
    from tasks.training.tracking import ensure_experiment, log_eval_items

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    exp = ensure_experiment(client, "items", str(tmp_path / "artifacts"))
    run = client.create_run(exp)
    first, _ = _items_file(tmp_path, "first", "")
    items_uri = log_eval_items(client, run.info.run_id, first, artifact_uri=run.info.artifact_uri)
    second, rows = _items_file(tmp_path, "second", "no idea")  # an earlier attempt logged `first`
    assert log_eval_items(client, run.info.run_id, second, artifact_uri=run.info.artifact_uri) == items_uri

    mlflow.set_tracking_uri(uri)  # load_table searches runs through the fluent API's store
    table = client.load_table(exp, "eval/items.json", run_ids=[run.info.run_id])
    assert len(table) == len(rows) and list(table["item_id"]) == [r["item_id"] for r in rows]
    assert set(table["final_prediction"]) == {"no idea"}
    assert list(table["base_exact_match"]) == [False] * len(rows)
    logged = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": "eval/items.json", "type": "table"}]  # MLflow's UI shows it as a table
    local = mlflow.artifacts.download_artifacts(artifact_uri=items_uri, dst_path=str(tmp_path / "gate"))
    assert [json.loads(line) for line in Path(local).read_text().splitlines()] == rows
