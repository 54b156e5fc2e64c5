"""deployments/k8s/, checked offline: the Kubernetes work pool's base job template and the
prefect-worker Helm values.

The template is rendered the way the worker renders it (Prefect's own `apply_values`, variable
defaults without the nulls, then the worker's two conversions: `env` to a list, `command` to
argv) and the Job validated against Kubernetes' batch/v1 schema from `kubernetes-validate`
(bundled JSON schemas, strict: an unknown field fails). The Helm chart's values.schema.json
is not in any package, so the values are checked against a schema of the keys we set.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prefect.server.schemas.actions import WorkPoolCreate
from prefect.utilities.schema_tools import ValidationError as PrefectValidationError
from prefect.utilities.schema_tools import validate as prefect_validate
from prefect.utilities.templating import PlaceholderType, apply_values, find_placeholders

from logging_lib.redaction import is_secret_key, redact_text

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deployments" / "k8s"
TEMPLATE = K8S / "base-job-template.json"
VALUES = K8S / "values.yaml"
DOCS = REPO / "docs" / "deployments.md"

# What a deployment and the worker supply for every flow run (the worker's name, labels, command, env).
SAMPLE = {"image": "registry.example.com/mlops-pipeline:2026-12-01", "name": "nightly-brave-otter",
          "command": "prefect flow-run execute", "labels": {"prefect.io/flow-run-id": "0f1e2d3c"},
          "env": {"PREFECT_API_URL": "http://prefect-server.mlops.svc.cluster.local:4200/api"}}
# prefect-kubernetes refuses a manifest without these (KubernetesWorkerJobConfiguration's check);
# parallelism/completions are not Pod fields: the API server drops them with a warning.
WORKER_DEMANDS = {"parallelism": 1, "completions": 1, "restartPolicy": "Never"}
NOT_POD_FIELDS = ("parallelism", "completions")
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())   # oldest still common, newest bundled


@pytest.fixture
def template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


def _defaults(variables: dict[str, Any]) -> dict[str, Any]:
    """Defaults as the worker takes them: a null default is left out, so its key is dropped."""
    return {k: v["default"] for k, v in variables["properties"].items() if v.get("default") is not None}


def template_problems(template: dict[str, Any]) -> list[str]:
    """Everything `prefect work-pool create` would not catch until a flow run fails."""
    variables, config = template["variables"], template["job_configuration"]
    problems = [f"variables: not a JSON schema: {e.message}"
                for e in jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA).iter_errors(variables)]
    if problems:
        return problems       # the checks below read the schema
    used = {p.name for p in find_placeholders(config) if p.type is PlaceholderType.STANDARD}
    declared = set(variables.get("properties", {}))
    problems += [f"job_configuration uses {{{{ {n} }}}}: declare it under variables.properties" for n in sorted(used - declared)]
    problems += [f"variables.{n} is declared but no placeholder uses it" for n in sorted(declared - used)]
    for name, schema in variables.get("properties", {}).items():
        if "default" in schema and schema["default"] is not None:
            problems += [f"variables.{name}: default {schema['default']!r}: {e.message}"
                         for e in jsonschema.Draft202012Validator(schema).iter_errors(schema["default"])]
    for key in variables.get("properties", {}).get("env", {}).get("default", {}):
        if is_secret_key(key):
            problems.append(f"variables.env sets {key}: credentials come from the Secret (secret_name), not the template")
    text = json.dumps(template)
    if redact_text(text) != text:
        problems.append("the template holds something shaped like a credential: move it to the cluster Secret")
    return problems


def render(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The Job the worker would submit for `values` (deployment + flow-run job variables)."""
    variables = {**_defaults(template["variables"]), **values}
    variables["env"] = {**_defaults(template["variables"]).get("env", {}), **values.get("env", {})}
    manifest = apply_values(copy.deepcopy(template["job_configuration"]), variables)["job_manifest"]
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": k, "value": v} for k, v in container.get("env", {}).items()]
    if isinstance(container.get("args"), str):
        container["args"] = shlex.split(container["args"])
    return manifest


def validate_job(manifest: dict[str, Any], version: str) -> None:
    pod = manifest["spec"]["template"]["spec"]
    for field, value in WORKER_DEMANDS.items():
        assert pod.get(field) == value, f"the Kubernetes worker needs spec.template.spec.{field}: {value!r}"
    stripped = copy.deepcopy(manifest)
    for field in NOT_POD_FIELDS:
        stripped["spec"]["template"]["spec"].pop(field)
    kubernetes_validate.validate(stripped, version, strict=True)


def test_template_has_no_problems(template) -> None:
    assert template_problems(template) == []


def test_prefect_server_accepts_the_template_and_defaults(template) -> None:
    WorkPoolCreate(name="mlops-k8s", type="kubernetes", base_job_template=template)   # its placeholder check
    variables = template["variables"]
    prefect_validate(_defaults(variables), variables, raise_on_error=True, ignore_required=True,
                     allow_none_with_default=False, preprocess=False)               # as at work-pool create
    prefect_validate({**_defaults(variables), **SAMPLE}, variables, raise_on_error=True, preprocess=False)


def test_a_deployment_without_an_image_is_refused_naming_it(template) -> None:
    variables = template["variables"]
    with pytest.raises(PrefectValidationError, match="'image' is a required property"):
        prefect_validate(_defaults(variables), variables, raise_on_error=True, preprocess=False)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rendered_job_is_a_valid_batch_v1_job(template, version: str) -> None:
    manifest = render(template, SAMPLE)
    validate_job(manifest, version)
    pod = manifest["spec"]["template"]["spec"]
    job = pod["containers"][0]
    assert job["image"] == SAMPLE["image"] and job["workingDir"] == "/opt/mlops"
    assert job["args"] == ["prefect", "flow-run", "execute"]
    assert manifest["metadata"]["generateName"] == "nightly-brave-otter-"
    assert manifest["spec"]["backoffLimit"] == 0      # eviction -> Prefect reschedules; training resumes from its checkpoint


def test_gpu_flows_request_a_gpu_on_gpu_nodes_and_others_need_none(template) -> None:
    gpu = render(template, SAMPLE)["spec"]["template"]["spec"]
    res = gpu["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == res["requests"]["nvidia.com/gpu"] == 1
    assert gpu["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    tp = render(template, {**SAMPLE, "gpu_count": 4})["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert tp["limits"]["nvidia.com/gpu"] == tp["requests"]["nvidia.com/gpu"] == 4   # vLLM tensor_parallel_size 4
    cpu_only = render(template, {**SAMPLE, "gpu_count": 0, "node_selector": {}, "tolerations": []})
    validate_job(cpu_only, K8S_VERSIONS[-1])
    assert cpu_only["spec"]["template"]["spec"]["nodeSelector"] == {}


def test_credentials_come_from_the_cluster_secret_and_paths_from_volumes(template) -> None:
    pod = render(template, SAMPLE)["spec"]["template"]["spec"]
    job = pod["containers"][0]
    assert job["envFrom"] == [{"secretRef": {"name": "mlops-credentials"}}]
    env = {e["name"]: e["value"] for e in job["env"]}
    assert env["MLOPS_LOG_DIR"] == "/logs" and env["PREFECT_API_URL"] == SAMPLE["env"]["PREFECT_API_URL"]
    assert not [k for k in env if is_secret_key(k)]
    mounts = {m["mountPath"]: m["name"] for m in job["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    assert claims[mounts["/logs"]] == "mlops-logs" and claims[mounts["/opt/mlops/data"]] == "mlops-data"
    assert env["TMPDIR"].startswith("/opt/mlops/data/")   # adapters download where an attached vLLM sees them
    prepare = pod["initContainers"][0]["command"][-1]
    assert env["TMPDIR"] in prepare and env["HF_HOME"] in prepare, "prepare-dirs must create TMPDIR and HF_HOME"


def test_no_k8s_file_holds_a_credential() -> None:
    for path in sorted(K8S.iterdir()):
        text = path.read_text()
        assert redact_text(text) == text, f"{path.name}: something shaped like a credential; use the cluster Secret"
        data = list(yaml.safe_load_all(text))     # JSON is YAML too
        keys = {k for doc in data for k in _keys(doc)}
        assert not [k for k in keys if is_secret_key(k)], f"{path.name}: a secret-named key"


def _keys(node: Any):
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from _keys(v)


def _break(template: dict[str, Any], how: str) -> dict[str, Any]:
    broken = copy.deepcopy(template)
    pod = broken["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    if how == "undeclared placeholder":
        pod["priorityClassName"] = "{{ priority_class }}"
    elif how == "default against its schema":
        broken["variables"]["properties"]["gpu_count"]["default"] = -1
    elif how == "credential in env":
        broken["variables"]["properties"]["env"]["default"]["AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI/K7MDENG"
    elif how == "schema not a schema":
        broken["variables"]["properties"]["gpu_count"]["type"] = "int"
    return broken


@pytest.mark.parametrize("how", ["undeclared placeholder", "default against its schema", "credential in env",
                                 "schema not a schema"])
def test_a_broken_template_is_caught(template, how: str) -> None:
    assert template_problems(_break(template, how)), f"{how}: not caught"


def test_an_undeclared_placeholder_is_refused_by_the_server_too(template) -> None:
    with pytest.raises(ValueError, match="undeclared variable.*priority_class"):
        WorkPoolCreate(name="mlops-k8s", type="kubernetes", base_job_template=_break(template, "undeclared placeholder"))


def test_a_misspelt_kubernetes_field_fails_the_job_schema(template) -> None:
    broken = copy.deepcopy(template)
    broken["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["nodeSelecter"] = {"gpu": "yes"}
    with pytest.raises(kubernetes_validate.ValidationError, match="nodeSelecter"):
        validate_job(render(broken, SAMPLE), K8S_VERSIONS[-1])


def test_storage_manifests_are_valid_and_are_what_the_template_mounts(template) -> None:
    docs = list(yaml.safe_load_all((K8S / "storage.yaml").read_text()))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
    props = template["variables"]["properties"]
    namespace = props["namespace"]["default"]
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"} == {namespace}
    for var in ("logs_pvc_name", "data_pvc_name"):
        claim = claims[props[var]["default"]]
        assert claim["metadata"]["namespace"] == namespace
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], f"{var}: pods on several nodes share it"


# --- the prefect-worker Helm chart's values ---------------------------------------------------
_STR = {"type": "string", "minLength": 1}
_RESOURCES = {"type": "object", "additionalProperties": False,
              "properties": {k: {"type": "object", "additionalProperties": False,
                                 "properties": {"cpu": _STR, "memory": _STR}} for k in ("requests", "limits")}}
VALUES_SCHEMA = {  # the chart's keys we set (learned from its values.yaml), nothing else
    "type": "object", "additionalProperties": False, "required": ["worker"],
    "properties": {
        "worker": {"type": "object", "additionalProperties": False, "required": ["config", "apiConfig"],
                   "properties": {
                       "image": {"type": "object", "additionalProperties": False,
                                 "properties": {"repository": _STR, "prefectTag": _STR,
                                                "pullPolicy": {"enum": ["IfNotPresent", "Always", "Never"]}}},
                       "config": {"type": "object", "additionalProperties": False, "required": ["workPool", "type"],
                                  "properties": {"workPool": _STR, "type": {"const": "kubernetes"},
                                                 "installPolicy": {"enum": ["always", "if-not-present", "never", "prompt"]},
                                                 "jobNamespace": _STR, "limit": {"type": ["integer", "null"]},
                                                 "baseJobTemplate": {"type": "object", "additionalProperties": False,
                                                                     "properties": {"configuration": {"type": ["string", "null"]},
                                                                                    "existingConfigMapName": {"type": "string"}}}}},
                       "apiConfig": {"enum": ["cloud", "customerManagedCloud", "selfHostedServer"]},
                       "selfHostedServerApiConfig": {"type": "object", "additionalProperties": False,
                                                     "properties": {"apiUrl": {"type": "string", "pattern": "^https?://.+/api$"}}},
                       "replicaCount": {"type": "integer", "minimum": 1},
                       "resources": _RESOURCES,
                       "livenessProbe": {"type": "object", "properties": {"enabled": {"type": "boolean"}}}}},
        "role": {"type": "object", "additionalProperties": False, "properties": {"namespace": _STR}}}}


@pytest.fixture
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def test_helm_values_use_only_chart_keys_and_name_our_pool(values, template) -> None:
    values["worker"]["config"]["baseJobTemplate"]["configuration"] = TEMPLATE.read_text()   # what --set-file does
    jsonschema.Draft202012Validator(VALUES_SCHEMA).validate(values)
    worker = values["worker"]
    assert worker["apiConfig"] == "selfHostedServer" and "selfHostedServerApiConfig" in worker
    assert worker["config"]["jobNamespace"] == template["variables"]["properties"]["namespace"]["default"]
    prefect_pin = next(d for d in _pyproject_deps() if d.startswith("prefect=="))
    assert worker["image"]["prefectTag"].startswith(prefect_pin.split("==")[1] + "-"), \
        f"values.yaml: worker.image.prefectTag should run {prefect_pin} (pyproject.toml)"


def test_docs_install_the_chart_with_this_template_and_pool(values) -> None:
    docs = DOCS.read_text()
    assert "--set-file worker.config.baseJobTemplate.configuration=deployments/k8s/base-job-template.json" in docs
    assert "-f deployments/k8s/values.yaml" in docs
    pool = values["worker"]["config"]["workPool"]
    assert f"name: {pool}" in docs, f"docs/deployments.md: show prefect.yaml's work pool named {pool}"


def test_misspelt_helm_key_is_caught(values) -> None:
    values["worker"]["config"]["workpool"] = values["worker"]["config"].pop("workPool")
    with pytest.raises(jsonschema.ValidationError, match="workpool"):
        jsonschema.Draft202012Validator(VALUES_SCHEMA).validate(values)


def _pyproject_deps() -> list[str]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [d for group in project["optional-dependencies"].values() for d in group] + project["dependencies"]
