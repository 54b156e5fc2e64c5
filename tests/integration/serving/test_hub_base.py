"""A base model given as a hub id (simulated: a local HF cache + HF_HUB_OFFLINE=1), served by
the real vLLM CPU build: managed deployment of a registered hub-id base, attached mode's check
that the running server serves that base, and the whole pipeline flow in attached mode (as the
compose stack runs it) training on the hub id and loading its adapter into that server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig, default_vllm_command
from tasks.serving import Deployment, attach, plan_target, start_managed, stop_process_tree
from tests.conftest import REPO_ROOT, TINY_CONFIG
from tests.integration.serving.conftest import _vllm_available
from tests.integration.serving.hf_cache import put_in_hub_cache

pytestmark = pytest.mark.integration

HUB_ID = "mlops-test/tiny-llama"
SECRET = "hf_NOT_A_REAL_TOKEN_5b7e"


@dataclass
class Resolved:
    """What tasks.registry.versions.resolve_model returns, for a version whose base is a hub id."""

    name: str
    version: str
    base_model: str
    adapter_dir: str
    lora_rank: int
    merged_dir: None = None


@dataclass
class HubServer:
    deployment: Deployment
    hf_home: Path
    log_dir: Path


@pytest.fixture(scope="module")
def hub_server(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """vLLM started the pipeline's way for a registered version whose base is HUB_ID; it also
    allows runtime adapters, so the attached-mode tests use it as the already-running server."""
    command = default_vllm_command()
    if not _vllm_available(command):
        pytest.skip(f"vLLM CPU build not found at {command[0]}: run scripts/setup.sh --vllm")
    base, adapter = tiny_model
    hf_home = tmp_path_factory.mktemp("hf")
    put_in_hub_cache(base, hf_home, HUB_ID)
    log_dir = tmp_path_factory.mktemp("hub-logs")
    cfg = ServingConfig(port=0, command=command, hub_offline=True, startup_timeout_s=300,
                        env={"HF_HOME": str(hf_home), "VLLM_CPU_KVCACHE_SPACE": "1",
                             "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"},
                        extra_args=["--max-loras", "2"])
    target = plan_target(Resolved("tiny", "1", HUB_ID, str(adapter), 8), cfg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    dep = start_managed(target, cfg, log_dir, env=env, hf_token=SECRET)
    try:
        yield HubServer(dep, hf_home, log_dir)
    finally:
        assert dep.pid is not None
        stop_process_tree(dep.pid, cfg.stop_timeout_s)


def _chat(base_url: str, model: str) -> httpx.Response:
    return httpx.post(base_url + "/v1/chat/completions", timeout=120, trust_env=False,
                      json={"model": model, "messages": [{"role": "user", "content": "the quick brown fox"}],
                            "max_tokens": 8, "temperature": 0})


def test_managed_vllm_serves_a_hub_id_base_with_its_adapter(hub_server: HubServer) -> None:
    dep = hub_server.deployment
    models = {m["id"]: m for m in httpx.get(dep.base_url + "/v1/models", trust_env=False).json()["data"]}
    assert models["tiny-base"]["root"] == HUB_ID and models["tiny-v1"]["parent"] == "tiny-base"
    assert _chat(dep.base_url, "tiny-v1").status_code == _chat(dep.base_url, "tiny-base").status_code == 200
    log = Path(str(dep.log_path)).read_text()
    assert log.splitlines()[0].split(" --model ")[1].startswith(f"{HUB_ID} ")
    assert SECRET not in log  # the token reaches vLLM's environment only


def test_attached_server_must_serve_the_registered_base(hub_server: HubServer, tiny_model) -> None:
    url = hub_server.deployment.base_url
    cfg = ServingConfig(mode="attached", base_url=url)
    other = plan_target(Resolved("other", "1", "mlops-test/other-model", str(tiny_model[1]), 8), cfg)
    with pytest.raises(ServingError) as info:
        attach(other, cfg)
    message = str(info.value)
    assert f"serves ['tiny-base ({HUB_ID})'], not 'mlops-test/other-model', the base model of 'other-v1'" in message
    assert "vllm serve mlops-test/other-model" in message
    served = {m["id"] for m in httpx.get(url + "/v1/models", trust_env=False).json()["data"]}
    assert "other" not in served  # nothing was loaded into the wrong base


@pytest.mark.slow
def test_pipeline_flow_in_attached_mode_trains_on_the_hub_id_and_loads_into_the_running_server(
        hub_server: HubServer, tmp_path: Path) -> None:
    """The compose stack's way: `mlops pipeline` with serving.mode attached + base_url."""
    url = hub_server.deployment.base_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "HF_"))}
    env.update({"HF_HOME": str(hub_server.hf_home), "HF_HUB_OFFLINE": "1", "HF_TOKEN": SECRET,
                "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(REPO_ROOT)})
    sets = ["model.tiny=null", f"model.name_or_path={HUB_ID}", f"paths.data_dir={tmp_path / 'data'}",
            "serving.mode=attached", f"serving.base_url={url}", "train.max_steps=4", "train.save_steps=4",
            "train.eval_steps=4", "eval.before_training=false", "eval.require_improvement=false",
            "benchmark.num_prompts=4", "benchmark.eval_max_examples=4"]
    args = [a for s in sets for a in ("--set", s)]
    run = subprocess.run([sys.executable, "-m", "flows.cli", "pipeline", "--config", str(TINY_CONFIG), *args, "--log-dir", str(tmp_path / "logs"),
                          "--no-backup"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "benchmark:           4 ok / 0 failed" in run.stdout
    assert re.search(r"exact match \(vLLM\): +\d\.\d{3} \(base\) -> \d\.\d{3} \(fine-tuned\)", run.stdout)
    from tasks.registry.versions import describe_model

    uri = f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}"
    version = describe_model(uri, "tiny-chat-lora")["versions"][-1]
    assert version["tags"]["base_model"] == HUB_ID
    models = {m["id"]: m for m in httpx.get(url + "/v1/models", trust_env=False).json()["data"]}
    # the adapter went into the running server, under its versioned name
    assert models[f"tiny-chat-lora-v{version['version']}"]["parent"] == "tiny-base"
    assert not list((tmp_path / "logs").glob("vllm/*.log"))  # it started no vLLM of its own
    assert SECRET not in run.stdout + run.stderr
    for f in (tmp_path / "logs").rglob("*.log"):
        assert SECRET not in f.read_text(), f
