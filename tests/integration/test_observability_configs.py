"""CI proof that the observability configs work: every LogQL expression in the dashboards, the
alert rules, README and docs runs with `mlops logs query` on logs written by the typed loggers
and returns data; fields exist in the schemas; alerts fire on planted failures and stay silent
on healthy logs; configs parse; no label can take per-request values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from logging_lib.logql import DEFAULT_MAX_SERIES, JOBS, parse, query_info
from logging_lib.logql.rules import evaluate_rules, load_rules
from logging_lib.schemas import BASE_SCHEMA, EVENT_SCHEMAS
from tests.conftest import REPO_ROOT
from tests.integration._alloy_syntax import Block, Call, Ref, parse_alloy, references
from tests.integration._observability_data import EXAMPLE_REQUEST_ID, INCIDENTS, write_logs

pytestmark = pytest.mark.integration

OBS = REPO_ROOT / "deployments" / "observability"
DASHBOARDS = sorted((OBS / "grafana" / "dashboards").glob("*.json"))
RULES = OBS / "loki" / "rules" / "fake" / "mlops-alerts.yaml"
STREAM_LABELS = {"job", "service", "host", "filename", "level"}
SCHEMA_FIELDS = set(BASE_SCHEMA["properties"]) | {f for s in EVENT_SCHEMAS.values() for f in s["properties"]}
GATEWAY_METRICS = {"mlops_gateway_requests_total", "mlops_gateway_request_duration_seconds",
                   "gen_ai_server_request_duration_seconds", "gen_ai_server_time_to_first_token_seconds",
                   "gen_ai_server_time_per_output_token_seconds", "gen_ai_client_token_usage"}
ID_FIELDS = {"request_id", "run_id", "flow_run_id", "task_run_id", "gpu_id", "step", "prompt_sha256", "epoch"}


@pytest.fixture(scope="module")
def incident_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("incident-logs")
    return root, write_logs(root, incidents=INCIDENTS)


@pytest.fixture(scope="module")
def healthy_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("healthy-logs")
    return root, write_logs(root, seed=1)


def loki_exprs_from_dashboards() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "loki":
                    out.append((f"{path.name}: {panel['title']}", target["expr"]))
    return out


def exprs_from_markdown() -> list[tuple[str, str]]:
    """One query per line of every ```logql block in README.md and docs/*.md (# lines are comments)."""
    out = []
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        if not path.exists():
            continue
        for block in re.findall(r"```logql\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    out.append((path.name, line.strip()))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    return [(f"alert {r.name}", r.expr) for r in load_rules(RULES)]


ALL_EXPRS = loki_exprs_from_dashboards() + exprs_from_markdown() + rule_exprs()


def test_the_expression_inventory_covers_every_dashboard_rule_and_doc() -> None:
    names = {where.split(":")[0] for where, _e in ALL_EXPRS}
    assert {p.name for p in DASHBOARDS} - {"mlops-serving-metrics.json"} <= names
    assert "observability.md" in names
    assert len(rule_exprs()) >= 5
    assert len(ALL_EXPRS) > 60


def test_every_logql_expression_returns_data_through_mlops_logs_query(incident_logs: tuple[Path, int]) -> None:
    from flows.cli import app

    root, end_ms = incident_logs
    runner = CliRunner()
    empty, failed = [], []
    for where, expr in ALL_EXPRS:
        res = runner.invoke(app, ["logs", "query", expr, "--log-dir", str(root), "--end", str(end_ms / 1000),
                                  "--since", "15m", "--step", "1m", "--json"])  # as a Grafana panel does
        if res.exit_code != 0:
            failed.append(f"{where}: {expr}\n    {res.output or res.exception!r}")
            continue
        body = json.loads(res.stdout)
        if not body["result"]:
            empty.append(f"{where}: {expr}")
    assert not failed, "queries failed:\n" + "\n".join(failed)
    assert not empty, "queries returned nothing on logs that should match them:\n" + "\n".join(empty)


@pytest.mark.parametrize("where,expr", ALL_EXPRS, ids=[f"{i}" for i in range(len(ALL_EXPRS))])
def test_every_field_a_query_names_is_in_the_event_schemas(where: str, expr: str) -> None:
    info = query_info(parse(expr))
    unknown = info.labels - SCHEMA_FIELDS - STREAM_LABELS - {"__error__"}
    assert not unknown, f"{where}: {expr} names fields no event has: {sorted(unknown)}"
    assert info.events <= set(EVENT_SCHEMAS), f"{where}: unknown event names {sorted(info.events - set(EVENT_SCHEMAS))}"
    for field_name in info.unwrapped:
        types = {str(s["properties"][field_name].get("type")) for s in EVENT_SCHEMAS.values()
                 if field_name in s["properties"]}
        assert types and all("number" in t for t in types), f"{where}: unwrap {field_name} is not numeric ({types})"


def test_every_alert_has_a_summary_and_a_runbook_documented_in_the_docs() -> None:
    docs = (REPO_ROOT / "docs" / "observability.md").read_text()
    for rule in load_rules(RULES):
        assert rule.annotations.get("summary"), rule.name
        assert rule.annotations.get("runbook"), rule.name
        assert f"### {rule.name}" in docs, f"docs/observability.md has no runbook section for {rule.name}"
        assert rule.labels.get("severity") in ("warning", "critical"), rule.name


def test_alerts_fire_on_planted_failures(incident_logs: tuple[Path, int]) -> None:
    root, end_ms = incident_logs
    states = {s.rule.name: s for s in evaluate_rules(load_rules(RULES), root, end_ms)}
    assert {n: s.state for n, s in states.items()} == {n: "firing" for n in states}
    gpu_mem = states["GPUMemoryHigh"].series
    assert [lb["gpu_id"] for lb, _v in gpu_mem] == ["1"] and gpu_mem[0][1] == pytest.approx(95.5)
    assert [lb["gpu_id"] for lb, _v in states["GPUTemperatureHigh"].series] == ["0"]
    latency = states["InferenceLatencyHigh"].series
    assert [lb["model_name"] for lb, _v in latency] == ["ft-model"]  # base-model stays healthy
    assert 1800 <= latency[0][1] <= 2200
    assert states["TrainingError"].series[0][1] == 1
    assert states["APIErrorRateHigh"].series[0][1] == pytest.approx(0.25)


def test_alerts_stay_silent_on_healthy_logs(healthy_logs: tuple[Path, int]) -> None:
    root, end_ms = healthy_logs
    states = evaluate_rules(load_rules(RULES), root, end_ms)
    assert {s.rule.name: s.state for s in states} == {s.rule.name: "inactive" for s in states}


def test_a_for_clause_keeps_an_alert_pending_until_it_has_lasted(incident_logs: tuple[Path, int]) -> None:
    """APIErrorRateHigh has for: 2m; one minute into the incident it is pending, not firing."""
    root, end_ms = incident_logs
    rule = next(r for r in load_rules(RULES) if r.name == "APIErrorRateHigh")
    from logging_lib.logql.rules import evaluate_rule

    start_ms = end_ms - 10 * 60_000
    assert evaluate_rule(rule, root, start_ms + 60_000).state == "pending"
    assert evaluate_rule(rule, root, start_ms + 4 * 60_000).state == "firing"


# -- configs parse, and their labels are static ---------------------------------------------------
def test_every_yaml_and_json_config_parses() -> None:
    yamls = sorted(OBS.rglob("*.yaml")) + sorted(OBS.rglob("*.yml"))
    assert len(yamls) >= 6
    for path in yamls:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"], path
        assert all(t["datasource"]["uid"] in ("loki", "prometheus") for p in board["panels"] for t in p["targets"])


def test_dashboards_are_what_the_generator_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", OBS / "grafana" / "generate_dashboards.py")
    gen = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(gen)  # type: ignore[union-attr]
    rendered = gen.render()
    assert set(rendered) == {p.name for p in DASHBOARDS}
    for name, text in rendered.items():
        assert (OBS / "grafana" / "dashboards" / name).read_text() == text, \
            f"{name} is stale: run python deployments/observability/grafana/generate_dashboards.py"


def test_dashboards_cover_what_operators_look_at() -> None:
    titles = {json.loads(p.read_text())["uid"]: " | ".join(x["title"] for x in json.loads(p.read_text())["panels"])
              for p in DASHBOARDS}
    for uid, words in {"mlops-training": ["loss", "Learning rate", "Validation"],
                       "mlops-inference": ["Requests per second", "Latency", "first token", "Tokens per second"],
                       "mlops-system": ["GPU memory", "utilization", "temperature", "power", "CPU", "Memory"],
                       "mlops-api": ["Requests per second", "status code", "Duration"],
                       "mlops-errors": ["Error"], "mlops-serving-metrics": ["vLLM", "Gateway"]}.items():
        for word in words:
            assert word.lower() in titles[uid].lower(), f"{uid} has no panel about {word}"
    inference = (OBS / "grafana" / "dashboards" / "mlops-inference.json").read_text()
    assert "quantile_over_time(0.95" in inference and "quantile_over_time(0.99" in inference


def _alloy() -> list[Block]:
    return parse_alloy((OBS / "alloy" / "config.alloy").read_text())


def test_alloy_config_is_well_formed_and_wired() -> None:
    blocks = _alloy()
    defined = {f"{b.name}.{b.label}" for b in blocks}
    assert {"local.file_match.mlops", "loki.source.file.mlops", "loki.process.mlops", "loki.write.default"} <= defined
    for b in blocks:
        for ref in references(b.attrs) + [r for s in b.blocks for r in references(s.attrs)]:
            if ref.startswith("constants."):
                continue
            assert any(ref.startswith(d + ".") for d in defined), f"{b.name} refers to undefined {ref}"
    source = next(b for b in blocks if b.name == "loki.source.file")
    assert source.attrs["targets"] == Ref("local.file_match.mlops.targets")
    assert source.attrs["forward_to"] == [Ref("loki.process.mlops.receiver")]
    write = next(b for b in blocks if b.name == "loki.write")
    assert write.find("endpoint") and isinstance(write.find("endpoint")[0].attrs["url"], (str, Call))


def test_the_checker_rejects_broken_alloy() -> None:
    from tests.integration._alloy_syntax import AlloySyntaxError

    for bad in ['loki.write "x" {\n  endpoint {\n    url = "http://x"\n  }\n',  # missing }
                'loki.write "x" { url = }', 'loki.write "x" { a = 1 a = 2 }', 'local.file_match "m" { x = [1, 2 }']:
        with pytest.raises(AlloySyntaxError):
            parse_alloy(bad)


def test_alloy_tails_the_five_folders_with_static_low_cardinality_labels() -> None:
    blocks = _alloy()
    match = next(b for b in blocks if b.name == "local.file_match")
    targets = match.attrs["path_targets"]
    jobs = {}
    for t in targets:
        assert set(t) == {"__path__", "job", "service", "host"}, t
        assert t["service"] == "mlops" and t["host"] == Ref("constants.hostname")
        jobs[t["job"]] = t["__path__"]
    assert set(jobs) == set(JOBS)
    for job, path in jobs.items():
        assert path.endswith(f"/{job}/*.log")
    process = next(b for b in blocks if b.name == "loki.process")
    promoted = [set(s.attrs["values"]) for s in process.blocks if s.name == "stage.labels"]
    assert promoted == [{"level"}], "only level may become a label"
    assert not any(s.name == "stage.structured_metadata" and set(s.attrs["values"]) & {"level"}
                   for s in process.blocks)
    nested = [s for b in process.blocks for s in b.blocks]
    assert not any(s.name in ("stage.labels", "stage.label_keep", "stage.static_labels") for s in nested)
    stamp = next(s for s in process.blocks if s.name == "stage.timestamp")
    json_stage = next(s for s in process.blocks if s.name == "stage.json")
    assert json_stage.attrs["expressions"][stamp.attrs["source"]] == "timestamp"


def test_promtail_matches_alloy_and_has_static_labels_only() -> None:
    doc = yaml.safe_load((OBS / "promtail" / "promtail.yaml").read_text())
    (scrape,) = doc["scrape_configs"]
    labels = [sc["labels"] for sc in scrape["static_configs"]]
    assert {lb["job"] for lb in labels} == set(JOBS)
    for lb in labels:
        assert set(lb) == {"job", "service", "host", "__path__"} and lb["__path__"].endswith(f"/{lb['job']}/*.log")
    label_stages = [s["labels"] for s in scrape["pipeline_stages"] if "labels" in s]
    assert [set(s) for s in label_stages] == [{"level"}]
    assert doc["positions"]["filename"], "positions must persist so restarts do not re-ingest"


def test_no_configured_label_can_hold_a_per_request_value() -> None:
    labels: set[str] = set()
    for b in _alloy():
        for t in b.attrs.get("path_targets", []):
            labels |= set(t)
        for s in b.blocks:
            if s.name == "stage.labels":
                labels |= set(s.attrs["values"])
    doc = yaml.safe_load((OBS / "promtail" / "promtail.yaml").read_text())
    for sc in doc["scrape_configs"]:
        for st in sc["static_configs"]:
            labels |= set(st["labels"])
        for stage in sc["pipeline_stages"]:
            labels |= set(stage.get("labels") or {})
    labels -= {"__path__"}
    assert labels == {"job", "service", "host", "level"}
    assert not labels & ID_FIELDS


def test_loki_enforces_retention_and_states_its_limits() -> None:
    cfg = yaml.safe_load((OBS / "loki" / "loki.yaml").read_text())
    compactor = cfg["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "filesystem" and compactor["working_directory"]
    limits = cfg["limits_config"]
    assert limits["retention_period"] == "720h"
    assert limits["max_query_series"] == DEFAULT_MAX_SERIES  # the cap `mlops logs query` applies too
    assert limits["reject_old_samples"] is True and limits["max_global_streams_per_user"] > 0
    (schema,) = cfg["schema_config"]["configs"]
    assert schema["store"] == "tsdb" and schema["schema"] == "v13" and schema["index"]["period"] == "24h"
    compose = yaml.safe_load((OBS / "docker-compose.yml").read_text())
    mounts = " ".join(compose["services"]["loki"]["volumes"])
    assert f"./loki/rules:{cfg['ruler']['storage']['local']['directory']}" in mounts


def test_compose_wires_every_config_file_it_needs() -> None:
    compose = yaml.safe_load((OBS / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"loki", "alloy", "grafana", "prometheus", "alertmanager"} <= set(services)
    for svc in services.values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (OBS / src).resolve().exists() or src == "../../logs", f"compose mounts missing {src}"


def test_collectors_keep_read_positions_across_restarts() -> None:
    """Rotation/restart safety: Alloy's positions live in a persistent --storage.path volume."""
    alloy = yaml.safe_load((OBS / "docker-compose.yml").read_text())["services"]["alloy"]
    storage = next(a.split("=", 1)[1] for a in alloy["command"] if a.startswith("--storage.path="))
    assert any(v.endswith(":" + storage) and not v.startswith(".") for v in alloy["volumes"])
    source = next(b for b in _alloy() if b.name == "loki.source.file")
    assert source.attrs.get("tail_from_end") is False  # a file new to Alloy is read from its start
    match = next(b for b in _alloy() if b.name == "local.file_match")
    assert match.attrs["sync_period"] == "10s"  # new files (each logger start / rollover) are found


def test_prometheus_scrapes_the_gateway_and_vllm() -> None:
    cfg = yaml.safe_load((OBS / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"mlops-gateway", "vllm"}
    assert all(j["metrics_path"] == "/metrics" and j["static_configs"][0]["targets"] for j in jobs.values())


def test_serving_dashboard_uses_only_metrics_that_exist() -> None:
    board = json.loads((OBS / "grafana" / "dashboards" / "mlops-serving-metrics.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    gateway = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs
               for m in re.findall(r"\b(?:mlops_gateway|gen_ai)_\w+(?=[{\[])", e)}  # metrics, not labels
    assert gateway == GATEWAY_METRICS
    vllm_used = {re.sub(r"_(bucket|sum|count|total)$", "", m) for e in exprs for m in re.findall(r"vllm:\w+", e)}
    assert len(vllm_used) >= 5
    sources = sorted(REPO_ROOT.glob(".venv-vllm/lib/python3*/site-packages/vllm/v1/metrics/loggers.py")) + \
        sorted(Path("/work/main").glob(".venv-vllm/lib/python3*/site-packages/vllm/v1/metrics/loggers.py"))
    if not sources:
        pytest.skip("vLLM (.venv-vllm) is not installed here; its metric names cannot be checked")
    defined = set(re.findall(r'"(vllm:\w+)"', sources[0].read_text()))
    assert vllm_used <= defined, f"not defined by the installed vLLM: {sorted(vllm_used - defined)}"


def test_the_example_request_id_in_the_docs_is_one_the_test_logs_contain() -> None:
    assert EXAMPLE_REQUEST_ID in (REPO_ROOT / "docs" / "observability.md").read_text()
