"""The check before benchmark traffic goes to serving.gateway_url, against the real gateway in
front of the stub vLLM: each way it can be wrong fails with an error naming the setting and
the fix, never with the key in it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from configs.errors import ServingError
from configs.serving import GatewayConfig
from tasks.gateway.server import BackgroundGateway
from tasks.serving.gateway_route import check_gateway
from testkit.stub_vllm import StubServer

KEY = "k-bench-123"


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(model="tiny-base").start_in_thread()
    httpx.post(server.base_url + "/v1/load_lora_adapter", json={"lora_name": "tiny-v2", "lora_path": "/x"})
    yield server
    server.stop_thread()


@pytest.fixture
def gateway(log_dir: Path) -> Iterator[Callable[..., BackgroundGateway]]:
    started: list[BackgroundGateway] = []

    def make(backend_url: str, **kwargs: Any) -> BackgroundGateway:
        gw = BackgroundGateway(GatewayConfig(backend_url=backend_url, port=0), log_dir=str(log_dir), **kwargs).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def test_a_gateway_in_front_of_this_vllm_passes(stub: StubServer, gateway) -> None:
    gw = gateway(stub.base_url, api_keys=(KEY,))
    check_gateway(gw.base_url, ["tiny-v2", "tiny-base"], vllm_url=stub.base_url, api_key=KEY)
    open_gw = gateway(stub.base_url)  # no keys on the gateway: none needed
    check_gateway(open_gw.base_url, ["tiny-v2"])


@pytest.mark.parametrize("key, said", [("k-wrong", "refused the API key it was sent"),
                                       (None, "needs an API key and none is set")])
def test_a_wrong_or_missing_key_names_the_variables(stub: StubServer, gateway, key: str | None, said: str) -> None:
    gw = gateway(stub.base_url, api_keys=(KEY,))
    with pytest.raises(ServingError, match=re.escape(f"serving.gateway_url {gw.base_url} {said} (HTTP 401)")) as err:
        check_gateway(gw.base_url, ["tiny-v2"], api_key=key)
    assert "MLOPS_GATEWAY_API_KEY" in str(err.value) and "k-wrong" not in str(err.value)
    assert stub.stats.completions == 0


def test_no_gateway_at_the_url(free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
    with pytest.raises(ServingError, match=re.escape(f"no gateway answers at serving.gateway_url {url}")):
        check_gateway(url, ["tiny-v2"], timeout_s=2)


def test_vllm_itself_is_not_taken_for_the_gateway(stub: StubServer) -> None:
    with pytest.raises(ServingError, match="is not the mlops gateway .*not vLLM itself"):
        check_gateway(stub.base_url, ["tiny-v2"])


def test_a_gateway_whose_upstream_is_down(gateway, free_port: int) -> None:
    gw = gateway(f"http://127.0.0.1:{free_port}")
    with pytest.raises(ServingError, match=f"is up but its upstream http://127.0.0.1:{free_port} is not"):
        check_gateway(gw.base_url, ["tiny-v2"])


def test_a_gateway_in_front_of_another_server(stub: StubServer, gateway) -> None:
    gw = gateway(stub.base_url)
    with pytest.raises(ServingError, match=re.escape(
            f"does not route to this run's vLLM: it forwards to {stub.base_url}, whose /v1/models lists "
            "['tiny-base', 'tiny-v2'], not ['tiny-v3']")) as err:
        check_gateway(gw.base_url, ["tiny-v2", "tiny-v3"], vllm_url="http://127.0.0.1:8000")
    assert "this run's vLLM is at http://127.0.0.1:8000" in str(err.value)
