"""Where the `benchmark` flow sends its load: a deployed version through serving.gateway_url
when set; an `endpoint` as given, through the gateway's check and key only when it IS the gateway
(the gateway's key is never sent to another server)."""

from __future__ import annotations

from configs.benchmark_request import BenchmarkRequest
from flows.benchmark import _gateway

GW = "http://127.0.0.1:8080"


def test_a_deployed_version_goes_through_the_configured_gateway() -> None:
    assert _gateway(BenchmarkRequest(model_ref="models:/m/1"), GW) == GW
    assert _gateway(BenchmarkRequest(model_ref="models:/m/1"), None) is None


def test_an_endpoint_is_the_gateway_only_when_it_names_it() -> None:
    assert _gateway(BenchmarkRequest(endpoint=GW + "/", served_model_name="m"), GW) == GW
    assert _gateway(BenchmarkRequest(endpoint="http://127.0.0.1:8000", served_model_name="m"), GW) is None
    assert _gateway(BenchmarkRequest(endpoint=GW, served_model_name="m"), None) is None
