"""Fuzzing the LogQL parser and evaluator: any query ends in a result or a LogQLError/PipelineError.

Inputs: random text, random token soup from LogQL's own vocabulary, and real queries (dashboards,
alert rules, README and docs) mutated by deleting, repeating, swapping and nesting pieces of them.
Every parsed query is also evaluated over logs written by the typed loggers. Examples are
derandomized (the same in every CI run), and each is bounded in time by an alarm, so a hang
fails the test instead of stalling it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from logging_lib import APILogger, InferenceLogger, SystemLogger, TrainingLogger
from logging_lib.errors import PipelineError
from logging_lib.logql import evaluate, parse, query_info

from tests._fuzz import fuzz_settings, time_limit

REPO = Path(__file__).resolve().parents[4]
FUZZ = fuzz_settings(300)


def real_queries() -> list[str]:
    """Every LogQL expression this project ships: dashboards, alert rules, README and docs."""
    out: list[str] = []
    for path in sorted((REPO / "deployments" / "observability" / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            out += [t["expr"] for t in panel.get("targets", []) if t.get("datasource", {}).get("type") == "loki"]
    for path in (REPO / "deployments" / "observability" / "loki" / "rules").rglob("*.yaml"):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            out += [r["expr"] for r in group.get("rules", []) if "expr" in r]
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```logql\n(.*?)```", path.read_text(), re.S):
            out += [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return out


REAL = real_queries()
VOCAB = ['{', '}', '(', ')', '[', ']', ',', '|', '|=', '|~', '!=', '!~', '=~', '=', '==', '>', '>=', '<', '<=',
         '+', '-', '*', '/', '%', '^', '"', '`', '\\', '#', '\n', ' ', 'json', 'line_format', 'unwrap', 'by',
         'without', 'sum', 'avg', 'max', 'min', 'count', 'rate', 'count_over_time', 'quantile_over_time',
         'avg_over_time', 'bool', 'and', 'or', 'offset', 'job', '"inference"', '"api"', 'latency_ms', 'message',
         '"{{.path"', '"{{ .x }}"', '[5m]', '[0s]', '[99999999999999999999d]', '0.99', '1e309', '-1', 'nan',
         '"(a+)+"', '"\\\\d"', '__error__', '""', '{job="api"}', '.5', '5m']


@pytest.fixture(scope="module")
def real_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A few lines of every kind, written by the loggers the services use."""
    root = tmp_path_factory.mktemp("fuzz-logs")
    with InferenceLogger("gateway", str(root)) as inf, APILogger("gateway", str(root)) as api, \
            TrainingLogger("train", str(root)) as tr, SystemLogger("monitor", str(root)) as sysl:
        for i in range(5):
            api.log_request(f"r{i}", "POST", "/v1/chat/completions", request_bytes=120)
            inf.log_request(f"r{i}", "What is the capital of France?", "bot-v1")
            inf.log_response(f"r{i}", 100.0 + i, 8, "bot-v1", ttft_ms=20.0)
            api.log_response(f"r{i}", 200 if i else 502, 110.0 + i)
            tr.log_step(epoch=0.1 * i, step=i, loss=2.0 - 0.1 * i, learning_rate=1e-4, mlflow_run_id="abc")
            sysl.log_system_metrics(cpu_percent=10.0 + i, memory_used_mib=1000, memory_percent=12.5)
        inf.log_error("r9", TimeoutError("upstream timed out"), "bot-v1")
    return root, int(time.time() * 1000) + 1000


def must_end_cleanly(query: str, logs: tuple[Path, int]) -> None:
    root, end_ms = logs
    with time_limit():
        try:
            expr = parse(query)
        except PipelineError:
            return
        query_info(expr)
        try:
            evaluate(expr, root, end_ms=end_ms, since_ms=3_600_000, step_ms=None, limit=50)
            if not _is_log_query(expr):
                evaluate(expr, root, end_ms=end_ms, since_ms=600_000, step_ms=60_000, limit=50)
        except PipelineError:
            return


def _is_log_query(expr) -> bool:
    from logging_lib.logql import ast as A

    return isinstance(expr, A.LogQuery)


def test_the_real_queries_were_found_and_all_parse(real_logs) -> None:
    assert len(REAL) >= 20
    for q in REAL:
        parse(q)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(real_logs, text: str) -> None:
    must_end_cleanly(text, real_logs)


@FUZZ
@given(st.lists(st.sampled_from(VOCAB), max_size=40).map("".join))
def test_random_logql_tokens(real_logs, text: str) -> None:
    must_end_cleanly(text, real_logs)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    q = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(q)))
        j = draw(st.integers(i, min(len(q), i + 30)))
        kind = draw(st.sampled_from(["delete", "insert", "repeat", "swap", "nest", "truncate"]))
        if kind == "delete":
            q = q[:i] + q[j:]
        elif kind == "insert":
            q = q[:i] + draw(st.sampled_from(VOCAB)) + q[i:]
        elif kind == "repeat":
            q = q[:j] + q[i:j] * draw(st.integers(2, 50)) + q[j:]
        elif kind == "swap":
            q = q[i:j] + q[:i] + q[j:]
        elif kind == "nest":
            n = draw(st.integers(1, 1000))
            q = draw(st.sampled_from(["(", "sum(", "avg by (job) ("])) * n + q + ")" * n
        else:
            q = q[:i]
    return q


@FUZZ
@given(mutated())
def test_mutated_real_queries(real_logs, query: str) -> None:
    must_end_cleanly(query, real_logs)
