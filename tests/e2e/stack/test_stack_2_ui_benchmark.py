"""The benchmark flow triggered from the Prefect UI (Chromium) on the production profile: the
stack's worker deploys the registered version on the vLLM port behind the gateway, and every
benchmark request goes through the gateway, which logs it once (api and inference logs)."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from tests.conftest import vllm_processes
from tests.e2e._ui import field, set_optional
from tests.e2e.stack.test_stack_1_nightly import NAME, jsonl, run_nightly, wait, worker_logs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def server_side_once(stack, request_ids: list[str]) -> None:
    """Each request id: exactly one api_request/api_response and one inference_request/response."""
    api = Counter((e["request_id"], e["message"]) for e in jsonl(stack.log_dir / "api"))
    inference = Counter((e["request_id"], e["message"]) for e in jsonl(stack.log_dir / "inference")
                        if e["message"].startswith("inference_"))
    for rid in request_ids:
        assert api[(rid, "api_request")] == api[(rid, "api_response")] == 1, rid
        assert inference[(rid, "inference_request")] == inference[(rid, "inference_response")] == 1, rid


def test_benchmark_from_the_ui_goes_through_the_gateway(stack, browser_page):
    page = browser_page
    if not stack.mlflow().search_model_versions(f"name='{NAME}'"):   # run alone: a version to benchmark
        assert wait(stack, run_nightly(stack))["state"]["type"] == "COMPLETED"
    label = f"ui-{uuid.uuid4().hex[:8]}"
    ui = stack.client["PREFECT_API_URL"].removesuffix("/api")
    page.goto(f"{ui}/deployments")
    page.get_by_role("link", name="on-demand").first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Custom run").click()
    # the form starts at the stack's config and model (MLOPS_PIPELINE_CONFIG, MLOPS_MODEL_REF)
    assert field(page, "Config Path").locator("input, textarea").first.input_value() == str(stack.config)
    set_optional(page, "Model Ref", "str", f"models:/{NAME}/1")
    set_optional(page, "Num Prompts", "int", "6")
    set_optional(page, "Run Label", "str", label)
    with page.expect_response(lambda r: "create_flow_run" in r.url and r.request.method == "POST") as created:
        page.get_by_role("button", name="Submit").click()
    assert created.value.ok, created.value.text()
    run_id = created.value.json()["id"]
    run = wait(stack, run_id, timeout_s=400)
    assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], worker_logs(stack))
    assert run["parameters"]["site_overrides"], "the stack's URLs came with the deployment"

    (result_file,) = stack.data_dir.glob(f"benchmarks/*{label}/result.json")
    result = json.loads(result_file.read_text())
    assert result["completed"] == 6 and result["base_url"].endswith(f":{stack.port('GATEWAY')}")
    server_side_once(stack, [r["request_id"] for r in result["requests"]])
    assert not vllm_processes(str(stack.data_dir))
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_text("Completed").first.wait_for()
