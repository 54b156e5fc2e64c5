"""The typed result: the JSON on disk keeps its documented keys, reads back to the same value,
and every place that shows a headline number shows the one computed value."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from configs.benchmark import BenchmarkConfig
from configs.loader import load_config
from tasks.benchmark.bench import run_benchmark
from tasks.benchmark.publish import report_markdown
from tasks.benchmark.units import format_metric
from tasks.benchmark.results import HEADLINE_METRICS, QUALITY_METRICS, TABLE_METRICS, BenchmarkResult, QualitySummary, read_result
from tests.conftest import REPO_ROOT


def _documented_keys() -> set[str]:
    """The top-level keys docs/benchmark.md promises, with `{a,b}` groups expanded."""
    text = (REPO_ROOT / "docs" / "benchmark.md").read_text()
    para = text[text.index("Result JSON keys:"):text.index("and `requests`")]
    keys = set()
    for token in (t for t in re.findall(r"`([^`]+)`", para) if not t.startswith("--")):
        parts = [p.split(",") for p in re.split(r"[{}]", token)]
        keys |= {"".join(combo) for combo in itertools.product(*parts)}
    return {k.replace("*", "") for k in keys} | {"requests"}


def _run(stub_url: str, tmp_path: Path) -> tuple[dict, BenchmarkResult]:
    cfg = BenchmarkConfig(num_prompts=12, max_tokens=4, request_rate=300, seed=2, goodput_ttft_ms=1000)
    quality = QualitySummary(examples=3, eval_path="eval.jsonl", tuned={"exact_match": 35 / 48})
    returned = run_benchmark(cfg, stub_url, "stub-model", result_file=tmp_path / "r.json", quality=quality)
    return json.loads((tmp_path / "r.json").read_text()), returned


def test_result_json_keeps_the_documented_keys_and_reads_back_unchanged(stub_url: str, tmp_path: Path) -> None:
    raw, returned = _run(stub_url, tmp_path)
    prefixed = {k for k in _documented_keys() if k.startswith(("p50_", "p95_"))}
    missing = {k for k in _documented_keys() - prefixed if k not in raw}
    assert not missing, f"result JSON lost documented keys: {sorted(missing)}"
    assert {f"{p}_{n}_ms" for p in ("p50", "p95") for n in ("ttft", "tpot", "itl", "e2el")} <= set(raw)
    back = read_result(tmp_path / "r.json")
    assert back == returned                              # the value written is the value read
    assert list(back.to_dict().items()) == list(raw.items())  # same keys, same order, same numbers
    assert raw["request_throughput"] == back.metrics.requests_per_s and raw["duration"] == back.metrics.duration_s
    assert raw["goodput"]["request_goodput"] == raw["request_goodput"] == back.metrics.good_requests_per_s


def test_inf_rate_and_no_quality_round_trip(stub_url: str, tmp_path: Path) -> None:
    cfg = BenchmarkConfig(num_prompts=3, max_tokens=2, percentiles=(90.0, 99.9))
    run_benchmark(cfg, stub_url, "stub-model", result_file=tmp_path / "r.json")
    raw = json.loads((tmp_path / "r.json").read_text())
    assert raw["request_rate"] == "inf" and raw["quality"] is None and "quality_examples" not in raw
    assert {"p90_ttft_ms", "p99.9_ttft_ms", "p99_ttft_ms"} <= set(raw) and "p50_ttft_ms" not in raw
    assert BenchmarkResult.from_dict(raw).to_dict() == raw


def test_headline_is_one_tuple_read_by_summary_tags_and_report(stub_url: str, tmp_path: Path, log_dir: Path) -> None:
    """The task's summary, the registry tags (real SQLite MLflow) and the markdown report carry
    exactly HEADLINE_METRICS, each the number the result JSON holds (repr: every digit)."""
    from tasks.benchmark.tasks import benchmark_task
    from tasks.registry.benchmark_tags import record_benchmark
    from tasks.registry.versions import client_for

    cfg = load_config(REPO_ROOT / "configs" / "tiny.yaml", [f"paths.data_dir={tmp_path}"])
    summary = benchmark_task.fn(BenchmarkConfig(num_prompts=6, max_tokens=3, request_rate=200), stub_url,
                                "stub-model", str(tmp_path / "b.json"), str(log_dir))
    assert list(summary) == [*HEADLINE_METRICS, "result_file", "plot_file"]
    raw = json.loads((tmp_path / "b.json").read_text())
    assert {k: summary[k] for k in HEADLINE_METRICS} == {k: raw[k] for k in HEADLINE_METRICS}

    uri = str(cfg.mlflow.tracking_uri)
    client = client_for(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", source=str(tmp_path)).version
    record_benchmark(uri, "m", str(version), summary, None)
    tags = client.get_model_version("m", version).tags
    bench_tags = {k.removeprefix("bench_"): v for k, v in tags.items() if k.startswith("bench_")}
    want = {k: repr(raw[k]) if isinstance(raw[k], float) else str(raw[k]) for k in HEADLINE_METRICS
            if raw[k] is not None}
    assert bench_tags == {**want, "result_file": str(tmp_path / "b.json")}

    markdown = report_markdown(read_result(tmp_path / "b.json"), None, "models:/m/1", uri)
    rows = {key: value for _, value, key in re.findall(r"^\| (.+) \| (.+) \| `(\w+)` \|$", markdown, re.M)}
    assert list(rows) == [k for k in HEADLINE_METRICS if raw[k] is not None and k not in QUALITY_METRICS]
    assert all(rows[k] == format_metric(k, raw[k]) for k in rows)
    assert rows["p99_ttft_ms"].endswith(" ms") and rows["request_throughput"].endswith(" req/s")
    assert not re.search(r"\d[eE][+-]\d", markdown)            # no number in exponent notation


def test_table_metrics_are_the_headline_and_more() -> None:
    assert TABLE_METRICS[:len(HEADLINE_METRICS)] == HEADLINE_METRICS and len(set(TABLE_METRICS)) == len(TABLE_METRICS)
