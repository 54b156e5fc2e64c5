"""Resolving what to serve: base + adapter (rank from the adapter), merged, and clear refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig
from tasks.serving import ServeTarget, build_command, plan_target, resolve_target
from tasks.serving.vllm import vllm_env


@dataclass
class Resolved:
    name: str
    version: str
    base_model: str | None
    adapter_dir: str | None = None
    lora_rank: int | None = None
    merged_dir: str | None = None
    tags: dict = field(default_factory=dict)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    base, adapter = tmp_path / "base", tmp_path / "adapter"
    base.mkdir()
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 12, "peft_type": "LORA"}))
    return base, adapter


def test_adapter_served_under_model_name_with_rank_from_adapter(folders) -> None:
    base, adapter = folders
    cfg = ServingConfig(port=0, command=["vllm", "serve"])
    t = plan_target(Resolved("support-bot", "3", str(base), str(adapter)), cfg)
    assert (t.served_name, t.base_name, t.lora_rank) == ("support-bot", "support-bot-base", 12)
    cmd = build_command(t, cfg, 8123)
    assert cmd[:2] == ["vllm", "serve"]
    joined = " ".join(cmd)
    assert f"--model {base}" in joined and "--port 8123" in joined and "--served-model-name support-bot-base" in joined
    assert f"--lora-modules support-bot={adapter}" in joined
    assert cmd[cmd.index("--max-lora-rank") + 1] == "16"           # smallest rank vLLM accepts that holds 12


def test_rank_above_limit_is_refused_before_starting(folders) -> None:
    base, adapter = folders
    with pytest.raises(ServingError, match="rank 12 is above serving.max_lora_rank_limit 8"):
        plan_target(Resolved("m", "1", str(base), str(adapter)), ServingConfig(max_lora_rank_limit=8))


def test_merged_model_and_missing_folders(folders, tmp_path: Path) -> None:
    base, _ = folders
    cfg = ServingConfig(serve_merged=True, served_model_name="bot")
    t = plan_target(Resolved("m", "1", str(base), merged_dir=str(base)), cfg)
    assert (t.model_path, t.served_name, t.adapter_dir) == (str(base), "bot", None)
    assert "--enable-lora" not in build_command(t, cfg, 1)
    with pytest.raises(ServingError, match="no merged folder"):
        plan_target(Resolved("m", "1", str(base)), cfg)
    with pytest.raises(ServingError, match="base model folder .*gone-base of m v1 does not exist"):
        plan_target(Resolved("m", "1", str(tmp_path / "gone-base")), ServingConfig())
    with pytest.raises(ServingError, match="adapter folder .* does not exist"):
        plan_target(Resolved("m", "1", str(base), str(tmp_path / "gone")), ServingConfig())


def test_resolve_target_uses_the_registry_resolver(folders) -> None:
    base, adapter = folders
    calls = []

    def resolver(uri: str, ref: str) -> Resolved:
        calls.append((uri, ref))
        return Resolved("m", "7", str(base), str(adapter), lora_rank=8)

    t = resolve_target("sqlite:///x.db", "models:/m@candidate", ServingConfig(), resolver=resolver)
    assert calls == [("sqlite:///x.db", "models:/m@candidate")] and t.registry_version == "7" and t.lora_rank == 8


def test_hub_id_base_is_handed_to_vllm_as_is(folders) -> None:
    _, adapter = folders
    cfg = ServingConfig(command=["vllm", "serve"])
    t = plan_target(Resolved("bot", "2", "meta-llama/Meta-Llama-3-8B-Instruct", str(adapter)), cfg)
    assert t.model_path == "meta-llama/Meta-Llama-3-8B-Instruct" and t.adapter_dir == str(adapter)
    cmd = build_command(t, cfg, 8000)
    assert cmd[cmd.index("--model") + 1] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert plan_target(Resolved("bot", "2", "gpt2"), cfg).model_path == "gpt2"


def test_hf_token_and_offline_flag_reach_vllm_only_as_configured(folders) -> None:
    base, _ = folders
    hub = ServeTarget("bot", "org/base", "bot-base")
    local = ServeTarget("bot", str(base), "bot-base")
    env = vllm_env(hub, ServingConfig(), {"PATH": "/bin"}, "hf_secret")
    assert env["HF_TOKEN"] == "hf_secret" and "HF_HUB_OFFLINE" not in env and env["PATH"] == "/bin"
    assert "HF_TOKEN" not in vllm_env(hub, ServingConfig(), {}, None)
    assert vllm_env(local, ServingConfig(), {}, None)["HF_HUB_OFFLINE"] == "1"   # nothing to download
    assert vllm_env(hub, ServingConfig(hub_offline=True), {}, None)["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in vllm_env(local, ServingConfig(hub_offline=False), {"HF_HUB_OFFLINE": "1"}, None)
    assert "hf_secret" not in " ".join(build_command(hub, ServingConfig(command=["vllm", "serve"]), 1))
