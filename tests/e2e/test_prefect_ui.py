"""The path a user takes in the Prefect UI: open the `benchmark/on-demand` deployment, start a
Custom run with changed parameters in the form, and see the run complete with those
parameters and its artifacts. Headless Chromium (Debian's) driven by Playwright; a
screenshot is kept in test-output/ when it fails."""

from __future__ import annotations

import re
import shutil
import uuid

import pytest

from configs.loader import load_config
from tests.conftest import REPO_ROOT
from tests.e2e._ui import field, set_optional, set_text
from tests.e2e.conftest import POOL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

@pytest.fixture
def page(deployed, browser_page):
    return browser_page


def test_custom_run_of_the_benchmark_deployment_from_the_ui(deployed, page, tmp_path):
    from testkit.stub_vllm import StubServer

    # A copy of the tiny config under tmp_path/configs/: its relative data_dir lands in tmp_path.
    (tmp_path / "configs").mkdir()
    config = shutil.copy(REPO_ROOT / "configs" / "tiny.yaml", tmp_path / "configs" / "tiny.yaml")
    ui = deployed.api_url.removesuffix("/api")
    label = f"ui-{uuid.uuid4().hex[:8]}"
    stub = StubServer(model="served-by-stub", output_tokens=8).start_in_thread()
    try:
        page.goto(f"{ui}/deployments")
        page.get_by_role("link", name="on-demand").first.click()
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_role("button", name="Custom run").click()
        # the form starts at the values a run will use: the deployment's config (not None toggles)
        deployed_cfg = load_config(REPO_ROOT / "configs" / "local.yaml").benchmark
        for title, value in (("Num Prompts", deployed_cfg.num_prompts), ("Max Tokens", deployed_cfg.max_tokens),
                             ("Max Concurrency", deployed_cfg.max_concurrency)):
            assert field(page, title).locator("input").first.input_value() == str(value), title
        set_text(page, "Config Path", str(config))
        # the head-to-head comparison is offered on the form
        for title in ("Compare With", "Head To Head"):
            field(page, title).wait_for(state="visible")
        set_optional(page, "Endpoint", "str", stub.base_url)
        set_optional(page, "Served Model Name", "str", "served-by-stub")
        set_optional(page, "Num Prompts", "int", "7")
        set_optional(page, "Run Label", "str", label)
        set_optional(page, "log_dir", "str", str(tmp_path / "logs"))
        with page.expect_response(lambda r: "create_flow_run" in r.url and r.request.method == "POST") as created:
            page.get_by_role("button", name="Submit").click()
        response = created.value
        assert response.ok, response.text()
        flow_run = deployed.api("GET", f"/flow_runs/{response.json()['id']}")
        assert flow_run["parameters"]["request"]["num_prompts"] == 7
        assert flow_run["parameters"]["request"]["config_path"] == str(config)

        page.goto(f"{ui}/runs/flow-run/{flow_run['id']}")
        with deployed.worker(POOL):
            run = deployed.wait_for_flow_run(flow_run["id"], timeout_s=180)
        assert run["state"]["type"] == "COMPLETED", (run["state"]["message"], deployed.worker_log_tail())
        assert run["parameters"]["request"]["endpoint"] == stub.base_url
        assert stub.stats.completions >= 7
        assert [p.name.endswith(label) for p in (tmp_path / "data" / "benchmarks").iterdir()] == [True]
        assert not any((REPO_ROOT / "data" / "benchmarks").glob(f"*{label}"))  # nothing written into the checkout

        artifacts = deployed.api("POST", "/artifacts/filter",
                                 json={"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}})
        by_type = {a["type"]: a for a in artifacts}
        assert {"table", "markdown"} <= set(by_type)
        assert "served-by-stub" in by_type["markdown"]["data"] or stub.base_url in by_type["markdown"]["data"]
        report = by_type["markdown"]["data"]
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report)   # base64 may hold "9e+2"
        assert re.search(r"\| p99 TTFT \| [\d,.]+ ms \|", text) and not re.search(r"\d[eE][+-]\d", text)
        # the run page shows the finished state to the user
        page.reload()
        page.get_by_text("Completed").first.wait_for()
        # and the report's latency plot is an image there, not a path on the worker's disk
        page.goto(f"{ui}/artifacts/artifact/{by_type['markdown']['id']}")
        plot = page.get_by_role("img", name="Latency plot")
        plot.wait_for()
        assert plot.evaluate("img => img.complete && img.naturalWidth") > 100
    finally:
        stub.stop_thread()
