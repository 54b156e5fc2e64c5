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
from tests.e2e.conftest import POOL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def page(deployed, request):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; scripts/setup.sh --browser installs it")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(30_000)
        yield page
        if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
            out = REPO_ROOT / "test-output"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
        browser.close()


def _field(page, title: str):
    """The body of one form field, found by its header text (labels' ids do not match inputs)."""
    header = page.locator(":scope > .p-label__header", has_text=re.compile(rf"^{re.escape(title)}\b"))
    return page.locator("div.p-label", has=header).locator(":scope > .p-label__body").first


def _set_optional(page, title: str, kind: str, value: str) -> None:
    body = _field(page, title)
    body.get_by_role("button", name=kind, exact=True).click()
    body.locator("input, textarea").first.fill(value)


def _set_text(page, title: str, value: str) -> None:
    _field(page, title).locator("input, textarea").first.fill(value)


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
            assert _field(page, title).locator("input").first.input_value() == str(value), title
        _set_text(page, "Config Path", str(config))
        # the head-to-head comparison is offered on the form
        for title in ("Compare With", "Head To Head"):
            _field(page, title).wait_for(state="visible")
        _set_optional(page, "Endpoint", "str", stub.base_url)
        _set_optional(page, "Served Model Name", "str", "served-by-stub")
        _set_optional(page, "Num Prompts", "int", "7")
        _set_optional(page, "Run Label", "str", label)
        _set_optional(page, "log_dir", "str", str(tmp_path / "logs"))
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
