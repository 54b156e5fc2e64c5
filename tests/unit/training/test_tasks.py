"""The @task wrappers return small serialisable values (tested through `.fn`, no server)."""

from __future__ import annotations

import json
from pathlib import Path

from configs.loader import load_config

LOCAL = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"


def test_prepare_and_build_tasks_return_paths_not_objects(tmp_path):
    from tasks.training.tasks import build_base_model_task, prepare_data_task

    cfg = load_config(LOCAL, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=40"])
    data = prepare_data_task.fn(cfg)
    json.dumps(data)  # serialisable
    assert data["n_train"] + data["n_eval"] == 40 and Path(data["eval_path"]).exists()
    ref = build_base_model_task.fn(cfg, data)
    assert isinstance(ref, str) and (Path(ref) / "config.json").exists()
    assert build_base_model_task.fn(cfg, data) == ref  # cached
