"""A whole run: failures as data, threshold, result file, plot, client-side logs, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs.benchmark import BenchmarkConfig
from configs.errors import BenchmarkError
from logging_lib import InferenceLogger
from logging_lib.schemas import validate_file
from tasks.benchmark.bench import run_benchmark
from tasks.benchmark.results import BenchmarkResult
from tests.conftest import run_cli


def _dataset(tmp_path: Path, failing: set[int]) -> Path:
    rows = []
    for i in range(10):
        stub: dict = {"ttft_ms": 5, "itl_ms": 1, "output_tokens": 4}
        if i in failing:
            stub["status"] = 503
        rows.append({"prompt": f"p{i}", "extra_body": {"stub": stub}})
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_failed_requests_are_data_and_threshold_fails_run(stub_url: str, tmp_path: Path, log_dir: Path) -> None:
    cfg = BenchmarkConfig(num_prompts=10, max_tokens=4, warmup_requests=1, min_success_rate=0.9,
                          dataset_path=_dataset(tmp_path, {3, 7}))
    out = tmp_path / "r.json"
    with InferenceLogger("benchmark", str(log_dir)) as logger, pytest.raises(BenchmarkError, match="80.0%"):
        run_benchmark(cfg, stub_url, "stub-model", logger=logger, result_file=out, run_id="run123")
    result = json.loads(out.read_text())          # written before the threshold check
    assert (result["completed"], result["failed"]) == (8, 2)
    failed = [r for r in result["requests"] if not r["success"]]
    assert {r["status"] for r in failed} == {503} and all("HTTP 503" in r["error"] for r in failed)
    log = next((log_dir / "inference").glob("benchmark_*.log"))
    assert validate_file(log).ok
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert {ln["benchmark_run_id"] for ln in lines} == {"run123"}
    assert sum(ln["message"] == "benchmark_error" for ln in lines) == 2
    assert sum(ln["message"] == "benchmark_response" for ln in lines) == 8
    assert not any(ln["message"].startswith("inference_") for ln in lines)  # the server side's events
    assert {ln["request_id"] for ln in lines} == {r["request_id"] for r in result["requests"]}
    assert all("prompt" not in ln for ln in lines)  # raw prompts are not logged


def test_success_rate_at_threshold_passes(stub_url: str, tmp_path: Path) -> None:
    cfg = BenchmarkConfig(num_prompts=10, max_tokens=4, min_success_rate=0.8, dataset_path=_dataset(tmp_path, {3, 7}))
    result = run_benchmark(cfg, stub_url, "stub-model")
    assert result.metrics.success_rate == 0.8


def test_cli_bench_writes_vllm_keys_table_and_plot(stub_url: str, tmp_path: Path, log_dir: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_cli("bench", "--base-url", stub_url, "--model", "stub-model", "--num-prompts", "20",
                   "--request-rate", "200", "--max-tokens", "5", "--seed", "4", "--result-file", str(out),
                   "--goodput", "ttft:1000 e2el:5000", "--log-dir", str(log_dir), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Serving Benchmark Result" in proc.stdout and "P99 TTFT (ms)" in proc.stdout
    result = json.loads(out.read_text())
    for key in ("completed", "failed", "duration", "request_throughput", "output_throughput",
                "total_token_throughput", "send_lag_p99_ms", "goodput", "requests", "request_goodput"):
        assert key in result
    for name in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "std", "p99", "p50", "p95"):
            assert f"{stat}_{name}_ms" in result
    assert result["completed"] == 20 and result["goodput"]["good_requests"] == 20
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_bad_options_and_unreachable_server(tmp_path: Path, free_port: int) -> None:
    proc = run_cli("bench", "--base-url", "http://127.0.0.1:1", "--model", "m", "--goodput", "speed:3")
    assert proc.returncode == 2 and "--goodput" in proc.stderr and "speed:3" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("bench", "--base-url", f"http://127.0.0.1:{free_port}", "--model", "m", "--num-prompts", "2",
                   "--log-dir", str(tmp_path))
    assert proc.returncode == 1 and "warm-up" in proc.stderr and "--base-url" in proc.stderr


def test_benchmark_task_returns_small_values(stub_url: str, tmp_path: Path, log_dir: Path) -> None:
    from tasks.benchmark.tasks import benchmark_task

    out = benchmark_task.fn(BenchmarkConfig(num_prompts=5, max_tokens=3, request_rate=100), stub_url, "stub-model",
                       str(tmp_path / "b.json"), str(log_dir))
    assert out["completed"] == 5 and out["failed"] == 0 and out["quality"] is None
    assert Path(out["result_file"]).exists() and Path(out["plot_file"]).exists()
    assert len(json.dumps(out)) < 1000


def test_json_report_and_plot_show_the_same_percentiles(stub_url: str, tmp_path: Path, monkeypatch) -> None:
    """One set of samples, one percentile definition: the p50/p99 TTFT and E2EL lines the plot
    draws are the result JSON's numbers, and the table prints those numbers too."""
    import re

    from matplotlib.axes import Axes

    from tasks.benchmark.report import format_table, plot_latencies

    rows = [{"prompt": f"p{i}", "extra_body": {"stub": {"ttft_ms": 5 + (i * 37) % 60, "itl_ms": 1 + i % 3,
                                                         "output_tokens": 4}}} for i in range(23)]
    dataset = tmp_path / "spread.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = BenchmarkConfig(num_prompts=23, max_tokens=4, max_concurrency=4, dataset_path=dataset)
    run_benchmark(cfg, stub_url, "stub-model", result_file=tmp_path / "r.json")
    raw = json.loads((tmp_path / "r.json").read_text())
    result = BenchmarkResult.from_dict(raw)
    drawn: list[tuple[float, str]] = []
    real_axvline = Axes.axvline

    def spy(self, x=0, *args, **kwargs):
        drawn.append((x, kwargs.get("label", "")))
        return real_axvline(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "axvline", spy)
    plot_latencies(result, tmp_path / "r.png")
    table = format_table(result)
    printed = {f"{stat} {name}".lower(): value
               for stat, name, value in re.findall(r"^(P50|P99) (TTFT|E2EL) \(ms\)\s+(\S+)$", table, re.M)}
    want = [raw["p50_ttft_ms"], raw["p99_ttft_ms"], raw["p50_e2el_ms"], raw["p99_e2el_ms"]]
    assert [x for x, _label in drawn] == want
    assert [label.split()[-1] for _x, label in drawn] == [f"{v:.2f}" for v in want]
    assert [printed[k] for k in ("p50 ttft", "p99 ttft", "p50 e2el", "p99 e2el")] == [f"{v:.2f}" for v in want]
