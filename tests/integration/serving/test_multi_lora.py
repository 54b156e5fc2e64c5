"""Champion and candidate in ONE real vLLM (CPU build): two registered versions of the tiny
adapter, resolved from a SQLite MLflow registry, served as `NAME-v1` and `NAME-v2` by one managed
server; the interleaved head-to-head load against it; and attached mode loading another
version beside those already served."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from configs.benchmark import BenchmarkConfig
from configs.serving import ServingConfig, default_vllm_command
from tasks.serving import Deployment, attach, resolve_targets, start_managed, stop_process_tree
from tests.integration.serving.conftest import _vllm_available

pytestmark = pytest.mark.integration

NAME = "tiny-h2h"
PROMPTS = ["the quick brown fox number 7", "the lazy dog number 3", "serves tokens fast number 9"]


@dataclass
class Registry:
    uri: str
    adapters: dict[str, Path]   # version -> its adapter folder
    base: Path

    def register(self, adapter: Path, version: str) -> None:
        from tasks.registry.versions import client_for, register_adapter

        client = client_for(self.uri)
        exp = client.get_experiment_by_name("h2h") or client.get_experiment(client.create_experiment("h2h"))
        run_id = client.create_run(exp.experiment_id).info.run_id
        rank = int(json.loads((adapter / "adapter_config.json").read_text())["r"])
        got = register_adapter(self.uri, NAME, run_id, str(adapter), {"base_model": str(self.base), "lora_rank": rank})
        assert got == version
        self.adapters[version] = adapter


@dataclass
class TwoVersions:
    deployment: Deployment
    registry: Registry
    cfg: ServingConfig


@pytest.fixture(scope="module")
def two_versions(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoVersions]:
    """v1 (the session's rank-8 adapter) is the champion, v2 (another adapter, rank 16) the
    candidate; one managed vLLM serves both, resolved through the registry as the flow does."""
    command = default_vllm_command()
    if not _vllm_available(command):
        pytest.skip(f"vLLM CPU build not found at {command[0]}: run scripts/setup.sh --vllm")
    from tasks.registry.versions import promote
    from tests.integration.serving.tiny_model import build_adapter

    base, adapter_v1 = tiny_model
    root = tmp_path_factory.mktemp("h2h")
    registry = Registry(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}", {}, base)
    registry.register(adapter_v1, "1")
    registry.register(build_adapter(base, root / "adapter-v2", rank=16), "2")   # candidate alias moves to v2
    promote(registry.uri, NAME, "1")
    cfg = ServingConfig(port=0, command=command, startup_timeout_s=300, stop_timeout_s=20,
                        env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
                             "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"})
    target = resolve_targets(registry.uri, [f"models:/{NAME}@candidate", f"models:/{NAME}@champion"], cfg)
    dep = start_managed(target, cfg, root / "logs")
    try:
        yield TwoVersions(dep, registry, cfg)
    finally:
        assert dep.pid is not None
        stop_process_tree(dep.pid, cfg.stop_timeout_s)


def _models(base_url: str) -> dict[str, dict]:
    return {m["id"]: m for m in httpx.get(base_url + "/v1/models", trust_env=False).json()["data"]}


def _answer(base_url: str, model: str, prompt: str) -> str:
    resp = httpx.post(base_url + "/v1/chat/completions", timeout=120, trust_env=False,
                      json={"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8,
                            "temperature": 0})
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]["content"]


def test_one_vllm_serves_both_versions_under_their_versioned_names(two_versions: TwoVersions) -> None:
    dep = two_versions.deployment
    assert dep.served_name == f"{NAME}-v2"
    assert dep.served_names == {f"models:/{NAME}@candidate": f"{NAME}-v2", f"models:/{NAME}@champion": f"{NAME}-v1"}
    models = _models(dep.base_url)
    assert models[f"{NAME}-v1"]["parent"] == models[f"{NAME}-v2"]["parent"] == f"{NAME}-base"
    assert NAME not in models   # never the plain name
    command = Path(str(dep.log_path)).read_text().splitlines()[0]
    assert command.count("--lora-modules") == 1 and "--max-loras 2" in command and "--max-lora-rank 16" in command
    v1 = [_answer(dep.base_url, f"{NAME}-v1", p) for p in PROMPTS]
    v2 = [_answer(dep.base_url, f"{NAME}-v2", p) for p in PROMPTS]
    assert v1 != v2   # two different adapters answered, in one server


def test_interleaved_run_against_one_vllm_returns_rows_for_both(two_versions: TwoVersions, tmp_path: Path) -> None:
    from tasks.benchmark.interleaved import run_interleaved

    cfg = BenchmarkConfig(num_prompts=4, max_tokens=4, request_rate=20, ignore_eos=True)
    models = {"champion": f"{NAME}-v1", "candidate": f"{NAME}-v2"}
    rows = run_interleaved(cfg, two_versions.deployment.base_url, models, num_requests=4, seed=0,
                           rows_file=tmp_path / "rows.jsonl")
    assert Counter(r["model"] for r in rows) == {f"{NAME}-v1": 4, f"{NAME}-v2": 4}
    assert all(r["success"] and r["output_tokens"] == 4 and r["ttft_ms"] > 0 for r in rows), rows
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 8


def test_attached_mode_loads_a_new_version_beside_those_served(two_versions: TwoVersions) -> None:
    """Version 3 is registered from v1's adapter folder, so the loaded v3 must answer as v1 does."""
    reg, url = two_versions.registry, two_versions.deployment.base_url
    reg.register(reg.adapters["1"], "3")
    cfg = ServingConfig(mode="attached", base_url=url)
    dep = attach(resolve_targets(reg.uri, [f"models:/{NAME}/3", f"models:/{NAME}@champion"], cfg), cfg)
    assert dep.served_names == {f"models:/{NAME}/3": f"{NAME}-v3", f"models:/{NAME}@champion": f"{NAME}-v1"}
    models = _models(url)
    assert {f"{NAME}-v1", f"{NAME}-v2", f"{NAME}-v3"} <= set(models) and models[f"{NAME}-v3"]["parent"] == f"{NAME}-base"
    assert [_answer(url, f"{NAME}-v3", p) for p in PROMPTS] == [_answer(url, f"{NAME}-v1", p) for p in PROMPTS]
