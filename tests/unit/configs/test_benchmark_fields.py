"""The benchmark's fields are declared once, in BenchmarkConfig: the `benchmark` flow's
parameters are those fields made optional, with the same type, bounds and description."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from configs.benchmark import BenchmarkConfig
from configs.benchmark_request import OVERRIDES, BenchmarkRequest


def _schema_without_text(schema: dict) -> dict:
    return {k: v for k, v in schema.items() if k not in ("title", "description", "default")}


def test_every_config_field_has_a_description() -> None:
    assert [n for n, f in BenchmarkConfig.model_fields.items() if not f.description] == []


@pytest.mark.parametrize("name", OVERRIDES)
def test_request_override_is_the_config_field_made_optional(name: str) -> None:
    config = BenchmarkConfig.model_json_schema()["properties"][name]
    request = BenchmarkRequest.model_json_schema()["properties"][name]
    branches = [b for b in request["anyOf"] if b != {"type": "null"}]
    config_branches = [b for b in config.get("anyOf", [config]) if b != {"type": "null"}]
    assert [_schema_without_text(b) for b in branches] == [_schema_without_text(b) for b in config_branches]
    assert request["default"] is None and request["description"].startswith(config["description"])


def test_request_refuses_what_the_config_refuses_and_hands_on_what_is_set() -> None:
    for name, bad in (("num_prompts", 0), ("request_rate", -1.0), ("goodput_ttft_ms", 0.0)):
        with pytest.raises(ValidationError, match=name):
            BenchmarkConfig(**{name: bad})
        with pytest.raises(ValidationError, match=name):
            BenchmarkRequest(**{name: bad})
    req = BenchmarkRequest(num_prompts=3, goodput_e2el_ms=900.0)
    assert req.benchmark_fields() == {"num_prompts": 3, "goodput_e2el_ms": 900.0}
    with pytest.raises(ValidationError, match="extra"):
        BenchmarkRequest(temperature=0.5)   # not an override: the config file's value only


def test_prefect_form_shows_a_description_under_every_field() -> None:
    from flows.benchmark import benchmark_flow

    schema = benchmark_flow.parameters.model_dump()
    fields = schema["definitions"]["BenchmarkRequest"]["properties"]
    assert set(fields) == set(BenchmarkRequest.model_fields)
    assert [n for n, f in fields.items() if not f.get("description")] == []
