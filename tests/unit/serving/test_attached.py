"""Attached mode: the adapter is loaded into a running server through /v1/load_lora_adapter."""

from __future__ import annotations

import json
import types
from pathlib import Path

import httpx
import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig
from testkit.stub_vllm import StubServer
from tasks.serving import ServeTarget, attach, plan_target, resolve_targets

ADAPTER = ServeTarget("bot", "/models/base", "bot-base", adapter_dir="/adapters/bot", lora_rank=8)


def test_loads_adapter_into_running_server() -> None:
    stub = StubServer(model="bot-base").start_in_thread()
    try:
        dep = attach(ADAPTER, ServingConfig(mode="attached", base_url=stub.base_url))
        assert stub.stats.lora_loaded == ["bot"]
        assert (dep.mode, dep.base_url, dep.served_name, dep.pid) == ("attached", stub.base_url, "bot", None)
        attach(ADAPTER, ServingConfig(mode="attached", base_url=stub.base_url))   # already served: no reload
        assert stub.stats.lora_loaded == ["bot"]
        with pytest.raises(ServingError, match=r"serves \[.bot-base.\], not ./m., the base model of .other."):
            attach(ServeTarget("other", "/m", "other"), ServingConfig(mode="attached", base_url=stub.base_url))
    finally:
        stub.stop_thread()


def test_runtime_lora_disabled_names_the_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "bot-base"}]})
        return httpx.Response(404, json={"detail": "Not Found"})

    client = httpx.Client(base_url="http://vllm", transport=httpx.MockTransport(handler))
    with pytest.raises(ServingError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
        attach(ADAPTER, ServingConfig(mode="attached", base_url="http://vllm"), client=client)


def test_unreachable_server_and_missing_url(free_port: int) -> None:
    with pytest.raises(ServingError, match="no healthy vLLM server"):
        attach(ADAPTER, ServingConfig(mode="attached", base_url=f"http://127.0.0.1:{free_port}"))
    with pytest.raises(ValueError, match="needs serving.base_url"):
        ServingConfig(mode="attached")


def _version(tmp_path: Path, version: str) -> types.SimpleNamespace:
    """A registered version of `bot` as the registry resolver returns it, with its own adapter."""
    adapter = tmp_path / f"adapter-v{version}"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    return types.SimpleNamespace(name="bot", version=version, base_model="org/base", adapter_dir=str(adapter),
                                 lora_rank=8, merged_dir=None, tags={})


def test_a_new_version_is_loaded_even_when_the_server_lists_the_plain_name(tmp_path: Path) -> None:
    """The bug versioned names fix: version 1 already served as `bot` made attached mode skip
    loading version 2 (same name), so the server kept answering with version 1."""
    stub = StubServer(model="bot-base").start_in_thread()
    stub.stats.lora_loaded.append("bot")   # what the old code had loaded for version 1
    try:
        cfg = ServingConfig(mode="attached", base_url=stub.base_url)
        dep = attach(plan_target(_version(tmp_path, "2"), cfg), cfg)
        assert stub.stats.lora_loaded == ["bot", "bot-v2"] and dep.served_name == "bot-v2"
        assert stub.stats.last_body is None   # nothing was asked of the stale `bot`
    finally:
        stub.stop_thread()


def test_attached_loads_each_missing_version_beside_those_already_served(tmp_path: Path) -> None:
    stub = StubServer(model="bot-base").start_in_thread()
    try:
        cfg = ServingConfig(mode="attached", base_url=stub.base_url)
        versions = {"models:/bot@champion": _version(tmp_path, "3"), "models:/bot@candidate": _version(tmp_path, "4")}
        attach(plan_target(versions["models:/bot@champion"], cfg), cfg)   # the champion already runs
        target = resolve_targets("sqlite:///r.db", ["models:/bot@candidate", "models:/bot@champion"], cfg,
                                 resolver=lambda uri, ref: versions[ref])
        dep = attach(target, cfg)
        assert stub.stats.lora_loaded == ["bot-v3", "bot-v4"]   # v3 not loaded twice
        assert dep.served_names == {"models:/bot@candidate": "bot-v4", "models:/bot@champion": "bot-v3"}
        assert dep.served_name == "bot-v4"
    finally:
        stub.stop_thread()
