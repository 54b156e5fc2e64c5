"""The small, model-free parts of the recipe and the run: resume point, TrainingArguments from
the config, the data hand-over between Prefect tasks, and the flow's train step."""

from __future__ import annotations

import json
from pathlib import Path

from configs.loader import load_config
from tasks.training.data import PreparedData, prepare_data

LOCAL = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"


def _checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    p = root / f"checkpoint-{step}"
    p.mkdir(parents=True)
    if complete:
        (p / "trainer_state.json").write_text("{}")
    return p


def test_resume_point_is_the_newest_complete_checkpoint(tmp_path):
    from tasks.training.recipe import checkpoint_step, resume_point

    ckpts = tmp_path / "checkpoints"
    _checkpoint(ckpts, 5)
    newest = _checkpoint(ckpts, 10)
    _checkpoint(ckpts, 15, complete=False)  # a crash while saving: not resumable
    (ckpts / "checkpoint-x").mkdir()
    assert resume_point(ckpts, resume=True) == newest and checkpoint_step(newest) == 10
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-10", "checkpoint-15", "checkpoint-5", "checkpoint-x"]


def test_resume_off_deletes_earlier_checkpoints(tmp_path):
    from tasks.training.recipe import checkpoint_step, resume_point

    ckpts = tmp_path / "checkpoints"
    _checkpoint(ckpts, 5)
    assert resume_point(ckpts, resume=False) is None and not ckpts.exists()
    assert checkpoint_step(None) is None


def test_training_arguments_follow_the_config(tmp_path):
    from tasks.training.recipe import training_arguments

    cfg = load_config(LOCAL, ["train.max_steps=7", "train.save_steps=3", "train.eval_steps=null",
                              "train.gradient_accumulation_steps=2", "eval.batch_size=5"])
    args = training_arguments(cfg, tmp_path / "ckpt")
    assert args.output_dir == str(tmp_path / "ckpt")
    assert (args.max_steps, args.save_steps, args.gradient_accumulation_steps) == (7, 3, 2)
    assert args.per_device_eval_batch_size == 5 and args.eval_strategy == "no"
    assert args.seed == args.data_seed == cfg.train.seed and args.report_to == []
    assert not args.remove_unused_columns


def test_prepared_data_survives_the_hand_over_between_tasks(tmp_path):
    cfg = load_config(LOCAL, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=20"])
    data = prepare_data(cfg.data, cfg.paths.datasets_dir)
    wire = json.loads(json.dumps(data.to_dict()))
    assert PreparedData.from_dict(wire) == data


def _outcome(run_id: str, adapter_dir):
    from tasks.training import mlflow_run

    return mlflow_run.TrainingOutcome(run_id=run_id, adapter_dir=str(adapter_dir), model_name=None, version=None,
                                      base_model="base", metrics={"final_exact_match": 0.5}, global_step=40,
                                      resumed_from_step=None)


def test_the_flows_train_step_leaves_registration_to_its_own_step(tmp_path, monkeypatch):
    from configs.settings import Settings
    from tasks.training import mlflow_run
    from tasks.training.callbacks import RunLogSummaryCallback

    seen = {}

    def fake_run_training(cfg, settings, log_dir, **kw):  # the collaborator, not the unit under test
        seen.update(cfg=cfg, log_dir=log_dir, **kw)
        (cfg.paths.runs_dir / cfg.train.run_name).mkdir(parents=True)
        return _outcome("r1", tmp_path)

    monkeypatch.setattr(mlflow_run, "run_training", fake_run_training)
    cfg = load_config(LOCAL, ["train.max_steps=40", "mlflow.register_model=true", f"paths.data_dir={tmp_path}"])
    data = PreparedData(tmp_path / "t.jsonl", tmp_path / "e.jsonl", 1, 1, 0, "sha")
    out = mlflow_run.train_without_registering(cfg, Settings(), tmp_path, data=data, base_ref="base",
                                               run_logger=object())
    assert out == _outcome("r1", tmp_path) and seen["data"] is data and seen["base_ref"] == "base"
    assert seen["cfg"].mlflow.register_model is False and cfg.mlflow.register_model is True
    assert seen["cfg"].model_copy(update={"mlflow": cfg.mlflow}) == cfg  # nothing else changed
    [summary] = seen["callbacks"]
    assert isinstance(summary, RunLogSummaryCallback) and summary.every_steps == 4


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg, *args) -> None:
        self.lines.append(msg % args)


def test_a_retry_of_a_run_whose_training_finished_reuses_it(tmp_path, monkeypatch):
    """A worker died after training (and maybe registration): the retry of that flow run (same run
    folder) must not train again, or registration would make a second version."""
    from configs.settings import Settings
    from tasks.registry.versions import client_for
    from tasks.training import mlflow_run

    cfg = load_config(LOCAL, ["train.max_steps=40", f"paths.data_dir={tmp_path}"])
    client = client_for(str(cfg.mlflow.tracking_uri))
    run = client.create_run(client.create_experiment("e"))
    trained = []

    def fake_run_training(cfg, settings, log_dir, **kw):
        trained.append(1)
        (cfg.paths.runs_dir / cfg.train.run_name).mkdir(parents=True, exist_ok=True)
        return _outcome(run.info.run_id, tmp_path)

    monkeypatch.setattr(mlflow_run, "run_training", fake_run_training)
    data = PreparedData(tmp_path / "t.jsonl", tmp_path / "e.jsonl", 1, 1, 0, "sha")
    first = mlflow_run.train_without_registering(cfg, Settings(), tmp_path, data=data, base_ref="base",
                                                 run_logger=_Log())
    log = _Log()
    # the MLflow run still open (the attempt died in training): train (resume) again
    assert mlflow_run.train_without_registering(cfg, Settings(), tmp_path, data=data, base_ref="base",
                                                run_logger=log) == first and len(trained) == 2
    client.set_terminated(run.info.run_id, "FINISHED")
    again = mlflow_run.train_without_registering(cfg, Settings(), tmp_path, data=data, base_ref="base", run_logger=log)
    assert again == first and len(trained) == 2, "a finished training was run again"
    assert any("reusing it" in line for line in log.lines)
    # the next nightly is another flow run: another run folder, trained afresh
    other = cfg.model_copy(update={"train": cfg.train.model_copy(update={"run_name": "local-next"})})
    mlflow_run.train_without_registering(other, Settings(), tmp_path, data=data, base_ref="base", run_logger=log)
    assert len(trained) == 3
