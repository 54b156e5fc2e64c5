"""Attached mode: the adapter is loaded into a running server through /v1/load_lora_adapter."""

from __future__ import annotations

import httpx
import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig
from testkit.stub_vllm import StubServer
from tasks.serving import ServeTarget, attach

ADAPTER = ServeTarget("bot", "/models/base", "bot-base", adapter_dir="/adapters/bot", lora_rank=8)


def test_loads_adapter_into_running_server() -> None:
    stub = StubServer(model="bot-base").start_in_thread()
    try:
        dep = attach(ADAPTER, ServingConfig(mode="attached", base_url=stub.base_url))
        assert stub.stats.lora_loaded == ["bot"]
        assert (dep.mode, dep.base_url, dep.served_name, dep.pid) == ("attached", stub.base_url, "bot", None)
        attach(ADAPTER, ServingConfig(mode="attached", base_url=stub.base_url))   # already served: no reload
        assert stub.stats.lora_loaded == ["bot"]
        with pytest.raises(ServingError, match=r"serves \[.bot., .bot-base.\], not ./m., the base model of .other."):
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
