"""CI proof that the observability configs work: every LogQL expression in the dashboards, the
alert rules, README and docs runs with `mlops logs query` on logs written by the real code
(tests/integration/_observability_data.py: two training runs, a failed one, the gateway with
the benchmark client through it, the monitor) and returns data, split as it says; fields exist
in the schemas; alerts stay silent while the runs are healthy and fire on the real failures;
configs parse; no label can take per-request values."""

from __future__ import annotations

import json
import re
import time
import statistics
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from logging_lib.logql import DEFAULT_MAX_SERIES, JOBS, MetricResult, evaluate, parse, query_info
from logging_lib.logql import ast as A
from logging_lib.logql.rules import evaluate_rule, evaluate_rules, load_rules
from logging_lib.logql.source import default_host
from logging_lib.schemas import BASE_SCHEMA, EVENT_SCHEMAS
from tests.conftest import REPO_ROOT
from tests.integration._alloy_syntax import Block, Call, Ref, parse_alloy, references
from tests.integration._observability_data import CLEAN_N, EXAMPLE_REQUEST_ID, REGISTERED, RealLogs, real_logs

pytestmark = pytest.mark.integration

OBS = REPO_ROOT / "deployments" / "observability"
DASHBOARDS = sorted((OBS / "grafana" / "dashboards").glob("*.json"))
RULES = OBS / "loki" / "rules" / "fake" / "mlops-alerts.yaml"
STREAM_LABELS = {"job", "service", "host", "filename", "level"}
SCHEMA_FIELDS = set(BASE_SCHEMA["properties"]) | {f for s in EVENT_SCHEMAS.values() for f in s["properties"]}
GATEWAY_METRICS = {"mlops_gateway_requests_total", "mlops_gateway_request_duration_seconds",
                   "gen_ai_server_request_duration_seconds", "gen_ai_server_time_to_first_token_seconds",
                   "gen_ai_server_time_per_output_token_seconds", "gen_ai_client_token_usage"}
ID_FIELDS = {"request_id", "mlflow_run_id", "benchmark_run_id", "flow_run_id", "task_run_id", "gpu_id", "step",
             "prompt_sha256", "epoch"}

_GPU = "gpu_metrics comes from NVML sampling and training_step's gpu_memory_* from torch.cuda: no GPU here"
_OOM = "needs an out-of-memory error; the tiny CPU runs have none"
# The queries that cannot return data on these logs, each with the reason: (where the query is,
# a piece of it, reason). GPU entries apply only on a machine without a GPU. Every entry must
# match some query, and exactly the queries they match may be empty. The gpu_metrics ones are
# checked on the monitor's lines for a faked NVML device in the last test of this file.
NO_DATA_HERE: list[tuple[str, str, str]] = [
    ("", '"gpu_metrics"', _GPU),
    ("mlops-training.json: GPU memory during training", "unwrap gpu_memory_", _GPU),
    ("mlops-errors.json: Out-of-memory errors", "out of memory", _OOM),
    ("observability.md", "out of memory", _OOM),
    ("alert InferenceLatencyHigh", "> 1000", "threshold: the run's mean latency per model stays far below 1000 ms "
                                              "(its one slow request shows on the Slow requests panel)"),
]


# Group-by labels some grouped lines legitimately lack (an empty value is then one series).
MAY_BE_ABSENT = {"error_type": "the gateway's 5xx api_response lines are errors with a status_code, not an error_type"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> RealLogs:
    return real_logs(tmp_path_factory)


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


def no_data_reason(where: str, expr: str, gpu: bool) -> str | None:
    for prefix, piece, reason in NO_DATA_HERE:
        if where.startswith(prefix) and piece in expr and not (gpu and reason == _GPU):
            return reason
    return None


def grouping(e: A.Expr) -> tuple[str, ...] | None:
    """The labels the result's series are split by (None: the stream/line labels, not grouped)."""
    if isinstance(e, (A.RangeAgg, A.VectorAgg)):
        if e.grouping is not None and not e.grouping.without:
            return e.grouping.labels
        if isinstance(e, A.VectorAgg):
            return () if e.grouping is None else None
        return None
    if isinstance(e, A.BinOp):
        return grouping(e.right if isinstance(e.left, A.Scalar) else e.left)
    return None


def test_the_expression_inventory_covers_every_dashboard_rule_and_doc() -> None:
    names = {where.split(":")[0] for where, _e in ALL_EXPRS}
    assert {p.name for p in DASHBOARDS} - {"mlops-serving-metrics.json"} <= names
    assert {"observability.md", "README.md"} <= names
    assert len(rule_exprs()) >= 5
    assert len(ALL_EXPRS) > 60
    for prefix, piece, _reason in NO_DATA_HERE:  # no stale exemption
        assert any(w.startswith(prefix) and piece in e for w, e in ALL_EXPRS), (prefix, piece)


def test_every_logql_expression_returns_data_split_as_it_says(logs: RealLogs) -> None:
    """Each query as a Grafana panel runs it (range query, 1m step) through `mlops logs query`:
    data where the logs have it, one series per value of what it groups by (two runs, two
    series), and nothing only where NO_DATA_HERE says why."""
    from flows.cli import app

    runner = CliRunner()
    served = {logs.clean_model, logs.faulty_model}   # promotion decisions name the registered model
    expect_values = {"mlflow_run_id": set(logs.run_ids),
                     "model_name": {logs.clean_model, logs.faulty_model, REGISTERED},
                     "host": {default_host()}, "job": set(JOBS)}
    empty, failed, wrong = [], [], []
    exempt = {f"{w}: {e}" for w, e in ALL_EXPRS if no_data_reason(w, e, logs.gpu)}
    for where, expr in ALL_EXPRS:
        res = runner.invoke(app, ["logs", "query", expr, "--log-dir", str(logs.root), "--end",
                                  str(logs.end_ms / 1000), "--since", "30m", "--step", "1m", "--json"])
        if res.exit_code != 0:
            failed.append(f"{where}: {expr}\n    {res.output or res.exception!r}")
            continue
        body = json.loads(res.stdout)
        if not body["result"]:
            empty.append(f"{where}: {expr}")
            continue
        by = grouping(parse(expr)) if body["resultType"] == "matrix" else None
        for label in by or ():
            values = {series["metric"].get(label, "") for series in body["result"]}
            if ("" in values and label not in MAY_BE_ABSENT) or (label in expect_values
                                                                  and not values <= expect_values[label]):
                wrong.append(f"{where}: {expr}\n    by {label}: {sorted(values)}")
            if label == "mlflow_run_id" and values != set(logs.run_ids):
                wrong.append(f"{where}: {expr}\n    two runs, series for {sorted(values)}")
            if label == "model_name" and '"inference_response"' in expr and values != served:
                wrong.append(f"{where}: {expr}\n    two served models, series for {sorted(values)}")
    assert not failed, "queries failed:\n" + "\n".join(failed)
    assert not wrong, "queries split wrongly:\n" + "\n".join(wrong)
    assert set(empty) == exempt, ("queries returned nothing on logs that should match them:\n"
                                  + "\n".join(sorted(set(empty) - exempt))
                                  + "\nexempted in NO_DATA_HERE but returned data:\n"
                                  + "\n".join(sorted(exempt - set(empty))))


def _series(expr: str, logs: RealLogs, at_ms: int) -> dict[tuple, float]:
    res = evaluate(expr, logs.root, end_ms=at_ms)
    assert isinstance(res, MetricResult)
    return {tuple(sorted(s.labels.items())): s.points[-1][1] for s in res.series}


def _panel(board: str, title: str) -> list[str]:
    board_json = json.loads((OBS / "grafana" / "dashboards" / f"{board}.json").read_text())
    (panel,) = [p for p in board_json["panels"] if p["title"] == title]
    return [t["expr"] for t in panel["targets"]]


def _ts_ms(line: dict) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def _lines(logs: RealLogs, log_type: str, event: str) -> list[dict]:
    return [ln for f in sorted((logs.root / log_type).glob("*.log"))
            for ln in map(json.loads, f.read_text().splitlines()) if ln["message"] == event]


def test_a_benchmark_through_the_gateway_is_counted_once(logs: RealLogs) -> None:
    """CLEAN_N requests from the benchmark client through the real gateway: the request-rate panel
    counts CLEAN_N in the minute after (not 2 x CLEAN_N: the client's lines are its own events),
    and the latency panel averages the gateway's latencies only."""
    (rate_expr,) = _panel("mlops-inference", "Requests per second by model")
    rate = _series(rate_expr, logs, logs.clean_bench_end_ms)
    assert {dict(k)["model_name"]: round(v * 60, 6) for k, v in rate.items()} == {logs.clean_model: CLEAN_N}
    avg_expr = _panel("mlops-inference", "Latency by model (ms)")[0]
    avg = _series(avg_expr, logs, logs.clean_bench_end_ms)
    gateway = [ln["latency_ms"] for ln in _lines(logs, "inference", "inference_response")
               if ln["model_name"] == logs.clean_model]
    assert len(gateway) == CLEAN_N and all(ln["logger"] == "gateway" for ln in
                                           _lines(logs, "inference", "inference_response"))
    assert avg[(("model_name", logs.clean_model),)] == pytest.approx(statistics.fmean(gateway))
    client = _lines(logs, "inference", "benchmark_response")
    assert len([ln for ln in client if ln["model_name"] == logs.clean_model]) == CLEAN_N


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


def test_alerts_stay_silent_while_the_runs_are_healthy(logs: RealLogs) -> None:
    """After the clean benchmark and the two good training runs, before any failure."""
    states = evaluate_rules(load_rules(RULES), logs.root, logs.healthy_end_ms)
    assert {s.rule.name: s.state for s in states} == {s.rule.name: "inactive" for s in states}


def test_alerts_follow_the_real_failures(logs: RealLogs) -> None:
    rules = {r.name: r for r in load_rules(RULES)}
    # 2 of the run's api responses were 503: 2 of at most CLEAN_N + faulty_n is above 5%, pending
    # until it has lasted `for: 2m`; with no new lines it fires two minutes later.
    at = logs.faulty_bench_end_ms
    api = evaluate_rule(rules["APIErrorRateHigh"], logs.root, at)
    assert api.state == "pending"
    in_window = [ln for ln in _lines(logs, "api", "api_response") if at - 300_000 < _ts_ms(ln) <= at]
    assert sum(ln["status_code"] >= 500 for ln in in_window) == 2
    assert [v for _lb, v in api.series] == [pytest.approx(2 / len(in_window))]
    assert evaluate_rule(rules["APIErrorRateHigh"], logs.root, logs.faulty_bench_end_ms + 120_000).state == "firing"
    training = evaluate_rule(rules["TrainingError"], logs.root, logs.end_ms)
    assert training.state == "firing" and [v for _lb, v in training.series] == [1]
    rejected = evaluate_rule(rules["PromotionRejected"], logs.root, logs.end_ms)  # the faulty run's gate
    assert rejected.state == "firing" and [v for _lb, v in rejected.series] == [1]
    decisions = _lines(logs, "system", "promotion_decision")
    assert [(d["passed"], d["failed_checks"]) for d in decisions] == [(True, ""), (False, "failure_rate")]
    latency = evaluate_rule(rules["InferenceLatencyHigh"], logs.root, logs.end_ms)
    assert latency.state == "inactive"
    # ... because of its threshold, not for want of data: without it, both models have a mean.
    inner = rules["InferenceLatencyHigh"].expr.rsplit(">", 1)[0]
    means = _series(inner, logs, logs.end_ms)
    assert {dict(k)["model_name"] for k in means} == {logs.clean_model, logs.faulty_model}
    assert all(0 < v < 1000 for v in means.values())
    if not logs.gpu:  # listed in NO_DATA_HERE
        for name in ("GPUMemoryHigh", "GPUTemperatureHigh"):
            assert evaluate_rule(rules[name], logs.root, logs.end_ms).state == "inactive"


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


def test_the_example_request_id_in_the_docs_is_followed_through_every_log(logs: RealLogs) -> None:
    assert EXAMPLE_REQUEST_ID in (REPO_ROOT / "docs" / "observability.md").read_text()
    found = {(ln["log_type"], ln["message"]) for f in logs.root.glob("*/*.log")
             for ln in map(json.loads, f.read_text().splitlines()) if ln.get("request_id") == EXAMPLE_REQUEST_ID}
    assert found == {("inference", "benchmark_request"), ("inference", "benchmark_response"),
                     ("inference", "inference_request"), ("inference", "inference_response"),
                     ("api", "api_request"), ("api", "api_response")}


def test_gpu_alerts_and_queries_on_what_the_monitor_writes_for_a_gpu(tmp_path: Path, monkeypatch) -> None:
    """The GPU half of NO_DATA_HERE, on the real GPUMonitor reading a faked NVML (GPU 0 hot, GPU 1
    nearly full): every gpu_metrics query returns data, and each GPU alert fires for its GPU only."""
    import sys

    from logging_lib import GPUMonitor
    from tests.integration._observability_data import fake_nvml

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(memory_percent=[40.0, 95.5], temperature_c=[92, 60]))
    with GPUMonitor(str(tmp_path), interval=0.2) as monitor:
        while monitor.samples_taken < 4:
            time.sleep(0.05)
    at = int(time.time() * 1000) + 1
    gpu_queries = [(w, e) for w, e in ALL_EXPRS if '"gpu_metrics"' in e and not w.startswith("alert")]
    assert len(gpu_queries) >= 8
    for where, expr in gpu_queries:  # the alerts' own: below
        res = evaluate(expr, tmp_path, end_ms=at)
        assert res.series if isinstance(res, MetricResult) else res.entries, f"{where}: {expr}"
    rules = {r.name: r for r in load_rules(RULES)}
    memory = evaluate_rule(rules["GPUMemoryHigh"], tmp_path, at)
    assert memory.state == "firing" and [(lb["gpu_id"], v) for lb, v in memory.series] == [("1", pytest.approx(95.5))]
    hot = evaluate_rule(rules["GPUTemperatureHigh"], tmp_path, at)
    assert hot.state == "pending" and [lb["gpu_id"] for lb, _v in hot.series] == ["0"]  # for: 2m not yet over
    assert evaluate_rule(rules["GPUTemperatureHigh"], tmp_path, at + 120_000).state == "firing"
