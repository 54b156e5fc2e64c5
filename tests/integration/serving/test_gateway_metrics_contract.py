"""Every gateway metric the serving dashboard and the docs name is one the real gateway
exports after real traffic, with the labels and label values the queries select on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from configs.serving import GatewayConfig
from testkit.stub_vllm import StubServer
from tasks.gateway.server import BackgroundGateway
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

OBS = REPO_ROOT / "deployments" / "observability"
NAME = r"\b(?:mlops_gateway|gen_ai)_\w+"
MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"')


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """Samples from /metrics after a streamed chat, a plain completion, a backend error and a
    client that hung up mid-stream, through the real gateway in front of the stub backend."""
    stub = StubServer(ttft_ms=5, itl_ms=5, output_tokens=6).start_in_thread()
    gw = BackgroundGateway(GatewayConfig(backend_url=stub.base_url, port=0),
                           log_dir=str(tmp_path_factory.mktemp("logs"))).start()
    try:
        chat = {"model": "stub-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6}
        with httpx.Client(base_url=gw.base_url, timeout=30) as client:
            assert client.post("/v1/chat/completions", json={**chat, "stream": True}).status_code == 200
            assert client.post("/v1/completions", json={"model": "stub-model", "prompt": "x"}).status_code == 200
            assert client.post("/v1/chat/completions", json={**chat, "stub": {"status": 500}}).status_code == 500
            with client.stream("POST", "/v1/chat/completions",
                               json={**chat, "stream": True, "max_tokens": 500, "stub": {"itl_ms": 50}}) as r:
                next(r.iter_raw())
        text = ""
        for _ in range(100):  # the disconnect is recorded once the gateway noticed it
            text = httpx.get(gw.base_url + "/metrics").text
            if 'error_type="499"' in text:
                break
        yield [s for family in text_string_to_metric_families(text) for s in family.samples]
    finally:
        gw.stop()
        stub.stop_thread()


def _queries() -> list[str]:
    board = json.loads((OBS / "grafana" / "dashboards" / "mlops-serving-metrics.json").read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"] if re.search(NAME, t["expr"])]


def _selects(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric, {label: (op, value)}) for each gateway metric an expression reads."""
    expr = re.sub(r"\b(?:by|without) \([^)]*\)", "", expr)  # label names, not metrics
    inside = [range(b.start(), b.end()) for b in re.finditer(r"\{[^}]*\}", expr)]
    out = []
    for m in re.finditer(NAME + r"(\{[^}]*\})?", expr):
        if any(m.start() in span for span in inside):
            continue
        name = re.match(NAME, m.group(0)).group(0)  # type: ignore[union-attr]
        out.append((name, {k: (op, v) for k, op, v in MATCHER.findall(m.group(1) or "")}))
    return out


def _matches(labels: dict[str, str], want: dict[str, tuple[str, str]]) -> bool:
    for key, (op, value) in want.items():
        got = labels.get(key)
        if got is None:
            return False
        ok = {"=": got == value, "!=": got != value, "=~": re.fullmatch(value, got) is not None,
              "!~": re.fullmatch(value, got) is None}[op]
        if not ok:
            return False
    return True


def test_the_dashboard_reads_only_series_the_gateway_exports(scraped: list) -> None:
    queries = _queries()
    assert len(queries) >= 7
    for expr in queries:
        grouped = {g.strip() for by in re.findall(r"by \(([^)]*)\)", expr) for g in by.split(",")}
        for name, want in _selects(expr):
            hits = [s for s in scraped if s.name == name and _matches(s.labels, want)]
            assert hits, f"{name}{want or ''} (in {expr!r}) is not in the gateway's /metrics"
            missing = grouped - set(hits[0].labels)
            assert not missing, f"{expr!r} groups by {sorted(missing)}, which {name} does not carry"


def test_every_genai_histogram_has_the_served_model_and_data(scraped: list) -> None:
    for family in ("gen_ai_server_request_duration_seconds", "gen_ai_server_time_to_first_token_seconds",
                   "gen_ai_server_time_per_output_token_seconds", "gen_ai_client_token_usage"):
        counts = [s for s in scraped if s.name == family + "_count" and s.value > 0]
        assert counts and all(s.labels["gen_ai_request_model"] in ("stub-model", "_OTHER") for s in counts), family
    usage = {s.labels["gen_ai_token_type"] for s in scraped if s.name == "gen_ai_client_token_usage_count"}
    assert usage == {"input", "output"}
    errors = {s.labels["error_type"] for s in scraped if s.name == "gen_ai_server_request_duration_seconds_count"}
    assert errors == {"", "500", "499"}


def test_the_docs_name_only_exported_metrics(scraped: list) -> None:
    exported = {re.sub(r"_(bucket|sum|count|total)$", "", s.name) for s in scraped}
    exported |= {label for s in scraped for label in s.labels}  # the docs name the labels too
    for doc in ("docs/serving.md", "docs/observability.md"):
        named = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in re.findall(NAME, (REPO_ROOT / doc).read_text())}
        assert named, doc
        assert named <= exported, f"{doc} names {sorted(named - exported)}, which the gateway does not export"
