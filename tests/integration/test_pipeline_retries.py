"""Faults on the first try of deploy, registration and benchmark: the flow retries each and
still ends with exactly one model version and never more than one vLLM; its logs land in the
config's paths.log_dir (real training, SQLite MLflow, vLLM CPU build, Prefect test harness)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from configs.errors import ServingError
from tests.conftest import TINY_CONFIG, vllm_processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Faults:
    """Counts calls and fails the first one of each injected step."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"register": 0, "deploy": 0, "benchmark": 0}
        self.vllm_groups_when_ready: list[set[int]] = []

    def first(self, step: str) -> bool:
        self.calls[step] += 1
        return self.calls[step] == 1


@pytest.fixture(scope="module")
def faulty_run(prefect_harness, tmp_path_factory) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    import tasks.benchmark.bench as bench
    import tasks.serving.vllm as vllm
    from flows.pipeline import training_pipeline

    tmp = tmp_path_factory.mktemp("retries")
    faults = Faults()
    mp = pytest.MonkeyPatch()
    real_alias, real_ready, real_bench = MlflowClient.set_registered_model_alias, vllm.wait_ready, bench.run_benchmark

    def alias(self, name, alias, version):  # the version exists by now: a blind retry would add a second one
        if alias == "candidate" and faults.first("register"):
            raise MlflowException("injected: database is locked")
        return real_alias(self, name, alias, version)

    def ready(base_url, names, proc, log_path, cfg):  # vLLM is up: a retry that did not stop it leaves two
        real_ready(base_url, names, proc, log_path, cfg)
        faults.vllm_groups_when_ready.append({os.getpgid(p) for p in vllm_processes(str(tmp / "data"))})
        if faults.first("deploy"):
            raise ServingError("injected: connection reset while checking /v1/models")

    def run(*args, **kwargs):
        if faults.first("benchmark"):
            raise httpx.ConnectError("injected: connection refused")
        return real_bench(*args, **kwargs)

    mp.setattr(MlflowClient, "set_registered_model_alias", alias)
    mp.setattr(vllm, "wait_ready", ready)
    mp.setattr(bench, "run_benchmark", run)
    mp.setenv("MLOPS_LOG_DIR", str(tmp / "env-logs"))
    mp.chdir(tmp)
    overrides = [f"paths.data_dir={tmp / 'data'}", f"paths.log_dir={tmp / 'configured-logs'}", "train.max_steps=4",
                 "train.save_steps=4", "train.eval_steps=4", "eval.before_training=false",
                 "eval.require_improvement=false", "benchmark.num_prompts=4", "benchmark.eval_max_examples=4"]
    try:
        out = training_pipeline(config_path=str(TINY_CONFIG), overrides=overrides)
    finally:
        mp.undo()
    return {"out": out, "faults": faults, "tmp": tmp}


def test_faults_on_first_try_are_retried_to_one_version_and_one_vllm(faulty_run) -> None:
    from tasks.registry.versions import describe_model

    out, faults, tmp = faulty_run["out"], faulty_run["faults"], faulty_run["tmp"]
    assert faults.calls == {"register": 2, "deploy": 2, "benchmark": 2}
    info = describe_model(out["tracking_uri"], out["model_ref"].split("/")[1])
    assert [v["version"] for v in info["versions"]] == ["1"]
    assert info["versions"][0]["run_id"] == out["mlflow_run_id"] and "candidate" in info["versions"][0]["aliases"]
    # each try saw exactly one vLLM process group: the first try's server was gone before the second started
    assert [len(groups) for groups in faults.vllm_groups_when_ready] == [1, 1]
    assert faults.vllm_groups_when_ready[0] != faults.vllm_groups_when_ready[1]
    assert out["benchmark"]["completed"] == 4
    assert not vllm_processes(str(tmp / "data"))


def test_flow_logs_land_in_the_configured_log_dir(faulty_run) -> None:
    tmp = faulty_run["tmp"]
    configured = tmp / "configured-logs"
    assert faulty_run["out"]["log_dir"] == str(configured)
    for kind in ("training", "inference", "vllm"):
        assert list((configured / kind).glob("*.log")), f"no {kind} logs in {configured}"
    assert not (tmp / "env-logs").exists() and not (tmp / "logs").exists()
    assert not list(Path(tmp / "data").rglob("*.log"))
