"""Resolving what to serve: base + adapter (rank from the adapter), merged, and clear refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig
from tasks.serving import ServeTarget, build_command, plan_target, resolve_target, resolve_targets
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


def test_adapter_served_under_versioned_name_with_rank_from_adapter(folders) -> None:
    base, adapter = folders
    cfg = ServingConfig(port=0, command=["vllm", "serve"])
    t = plan_target(Resolved("support-bot", "3", str(base), str(adapter)), cfg)
    assert (t.served_name, t.base_name, t.lora_rank) == ("support-bot-v3", "support-bot-base", 12)
    cmd = build_command(t, cfg, 8123)
    assert cmd[:2] == ["vllm", "serve"]
    joined = " ".join(cmd)
    assert f"--model {base}" in joined and "--port 8123" in joined and "--served-model-name support-bot-base" in joined
    assert f"--lora-modules support-bot-v3={adapter}" in joined
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


def test_served_model_name_is_versioned_too_and_version_less_targets_keep_the_plain_name(folders) -> None:
    base, adapter = folders
    t = plan_target(Resolved("m", "4", str(base), str(adapter)), ServingConfig(served_model_name="bot"))
    assert (t.served_name, t.base_name) == ("bot-v4", "bot-base")
    assert plan_target(Resolved("m", None, str(base), str(adapter)), ServingConfig()).served_name == "m"
    assert plan_target(Resolved("m", "4", str(base)), ServingConfig()).served_name == "m"   # base only


def _registry(base: Path, tmp_path: Path, ranks: dict[str, int], bases: dict[str, str] | None = None):
    """A resolver over versions of `m`, each with its own adapter folder of the given rank."""
    folders = {}
    for version, rank in ranks.items():
        folder = tmp_path / f"adapter-v{version}"
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps({"r": rank}))
        folders[version] = folder
    aliases = {"champion": "3", "candidate": "4"}

    def resolver(uri: str, ref: str) -> Resolved:
        version = ref.rsplit("@", 1)[1] if "@" in ref else ref.rsplit("/", 1)[1]
        version = aliases.get(version, version)
        return Resolved("m", version, (bases or {}).get(version, str(base)), str(folders[version]))

    return resolver, folders


def test_several_versions_of_one_base_are_one_vllm_with_one_lora_module_each(folders, tmp_path: Path) -> None:
    base, _ = folders
    resolver, adapters = _registry(base, tmp_path, {"3": 8, "4": 32})
    cfg = ServingConfig(command=["vllm", "serve"])
    refs = ["models:/m@candidate", "models:/m@champion", "models:/m/3"]   # champion is v3: one adapter
    t = resolve_targets("sqlite:///x.db", refs, cfg, resolver=resolver)
    assert (t.served_name, t.registry_version, t.adapter_dir) == ("m-v4", "4", str(adapters["4"]))
    assert [(m.served_name, m.adapter_dir, m.rank) for m in t.lora_modules] == [
        ("m-v4", str(adapters["4"]), 32), ("m-v3", str(adapters["3"]), 8)]
    assert dict(t.refs) == {"models:/m@candidate": "m-v4", "models:/m@champion": "m-v3", "models:/m/3": "m-v3"}
    cmd = build_command(t, cfg, 8000)
    at = cmd.index("--lora-modules")
    assert cmd[at + 1:at + 3] == [f"m-v4={adapters['4']}", f"m-v3={adapters['3']}"]
    assert cmd[cmd.index("--max-loras") + 1] == "2" and cmd[cmd.index("--max-lora-rank") + 1] == "32"
    assert cmd.count("--served-model-name") == 1 and cmd[cmd.index("--served-model-name") + 1] == "m-base"


def test_versions_of_different_bases_are_refused_naming_both(folders, tmp_path: Path) -> None:
    base, _ = folders
    other = tmp_path / "other-base"
    other.mkdir()
    resolver, _ = _registry(base, tmp_path, {"3": 8, "4": 8}, bases={"4": str(other)})
    with pytest.raises(ServingError, match=f"has base model {base} but models:/m/4 has {other}"):
        resolve_targets("sqlite:///x.db", ["models:/m/3", "models:/m/4"], ServingConfig(), resolver=resolver)
