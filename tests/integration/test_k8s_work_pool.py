"""The Kubernetes pool's base job template on a real Prefect API (the test harness): the server
stores it as a `kubernetes` pool, checks deployments' job variables against its schema, refuses
a flow run without an image, and refuses a template with an undeclared placeholder.

With prefect-kubernetes installed (the worker's image has it; our environment does not), the
worker's own job configuration class renders the Job, which must pass Kubernetes' schema."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[2] / "deployments" / "k8s" / "base-job-template.json"
IMAGE = "registry.example.com/mlops-pipeline:2026-12-01"


def _template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


async def _pool_and_deployment(pool: str, job_variables: dict[str, Any]) -> Any:
    """A kubernetes pool with our template and one deployment on it; the deployment's id."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="kubernetes", base_job_template=_template()))
        flow_id = await client.create_flow_from_name("training-pipeline")
        dep_id = await client.create_deployment(flow_id=flow_id, name=f"nightly-{pool}", work_pool_name=pool,
                                                entrypoint="flows/pipeline.py:training_pipeline",
                                                job_variables=job_variables)
        return dep_id


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_server_stores_the_pool_and_validates_job_variables(prefect_harness) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    pool = f"mlops-k8s-{uuid.uuid4().hex[:6]}"

    async def scenario() -> dict[str, Any]:
        dep_id = await _pool_and_deployment(pool, {"image": IMAGE, "gpu_count": 2})
        async with get_client() as client:
            stored = (await client.read_work_pool(pool)).base_job_template
            run = await client.create_flow_run_from_deployment(dep_id, job_variables={"gpu_count": 0})
            flow_id = await client.create_flow_from_name("training-pipeline")
            with pytest.raises(PrefectHTTPStatusError) as bad_type:
                await client.create_deployment(flow_id=flow_id, name="bad-gpus", work_pool_name=pool,
                                               entrypoint="flows/pipeline.py:training_pipeline",
                                               job_variables={"image": IMAGE, "gpu_count": "two"})
            return {"stored": stored, "run": run, "bad_type": str(bad_type.value.response.text)}

    out = _run(scenario())
    assert out["stored"] == _template()
    assert out["run"].job_variables == {"gpu_count": 0}
    assert "Validation failed for field 'gpu_count'" in out["bad_type"]


def test_a_flow_run_without_an_image_is_refused_naming_it(prefect_harness) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    pool = f"mlops-k8s-{uuid.uuid4().hex[:6]}"

    async def scenario() -> str:
        dep_id = await _pool_and_deployment(pool, {"gpu_count": 1})    # deployments may leave it out
        async with get_client() as client:
            with pytest.raises(PrefectHTTPStatusError) as refused:
                await client.create_flow_run_from_deployment(dep_id)
            return refused.value.response.text

    assert "'image' is a required property" in _run(scenario())


def test_a_template_with_an_undeclared_placeholder_is_refused(prefect_harness) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import PrefectHTTPStatusError

    broken = _template()
    broken["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["priorityClassName"] = "{{ priority }}"

    async def scenario() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name="mlops-k8s-broken", type="kubernetes",
                                                         base_job_template=broken))

    with pytest.raises(PrefectHTTPStatusError, match="422") as refused:
        _run(scenario())
    assert "undeclared variable(s): priority" in refused.value.response.text


def test_the_kubernetes_worker_renders_a_valid_job(prefect_harness) -> None:
    worker = pytest.importorskip("prefect_kubernetes.worker", reason="prefect-kubernetes is on the worker image only")
    import kubernetes_validate
    from prefect.client.schemas.objects import FlowRun

    async def render() -> dict[str, Any]:
        cfg = await worker.KubernetesWorkerJobConfiguration.from_template_and_values(_template(), {"image": IMAGE})
        cfg.prepare_for_flow_run(FlowRun(id=uuid.uuid4(), name="brave-otter", flow_id=uuid.uuid4()))
        return copy.deepcopy(cfg.job_manifest)

    manifest = _run(render())
    pod = manifest["spec"]["template"]["spec"]
    for field in ("parallelism", "completions"):     # the worker demands them; not Pod fields (dropped by the API)
        assert pod.pop(field) == 1
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["PREFECT__FLOW_RUN_ID"] and env["MLOPS_LOG_DIR"] == "/logs"
    assert pod["containers"][0]["args"][:3] == ["prefect", "flow-run", "execute"]
