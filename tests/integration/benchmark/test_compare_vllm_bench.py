"""`mlops bench compare` on a result file written live by vLLM's own client (`vllm bench serve
--save-result --save-detailed`, run from the vLLM CPU build's venv) beside ours, both against
stubs whose TTFT is known: one server measured by both clients, and one 2.5 times slower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench._procs import start_stub
from bench._vllm_bench import run_vllm_bench, stub_tokenizer, vllm_bench_available
from configs.benchmark import BenchmarkConfig
from tasks.benchmark.bench import run_benchmark
from tasks.benchmark.compare_inputs import load_run
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
STUB = {"itl_ms": 2, "output_tokens": 8}


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, str]]:
    if not vllm_bench_available():
        pytest.skip("vLLM CPU build's venv (.venv-vllm) with vllm.benchmarks.serve not found")
    procs = {name: start_stub(ttft_ms=ttft, **STUB) for name, ttft in (("fast", 100), ("slow", 250))}
    try:
        yield {name: url for name, (_, url) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(10)


def _ours(url: str, out: Path) -> Path:
    cfg = BenchmarkConfig(num_prompts=40, request_rate=20, max_tokens=8, warmup_requests=1, endpoint="completions")
    run_benchmark(cfg, url, "stub-model", result_file=out)
    return out


def test_vllm_bench_serve_file_compares_with_ours(stubs: dict[str, str], tmp_path: Path) -> None:
    vllm_file = run_vllm_bench(stubs["slow"], "stub-model", 40, 20.0, tmp_path / "vllm", output_len=8,
                               tokenizer=stub_tokenizer(tmp_path / "tok"))
    data = json.loads(vllm_file.read_text())
    run = load_run(vllm_file)
    assert run.source == "vllm" and run.requests_sampled == data["completed"] == 40
    for name in ("ttft", "tpot", "e2el"):  # our derivation reproduces vLLM's own aggregates
        assert np.median(run.samples[name]) == pytest.approx(data[f"median_{name}_ms"], rel=1e-9)

    ours_fast, ours_slow = _ours(stubs["fast"], tmp_path / "fast.json"), _ours(stubs["slow"], tmp_path / "slow.json")
    proc = run_cli("bench", "compare", str(ours_fast), str(vllm_file), str(ours_slow), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["source"] for r in out["runs"]] == ["mlops bench", "vllm bench serve", "mlops bench"]
    assert out["skipped"] == {}
    found = {(i["candidate"], i["metric"]): i for i in out["intervals"]}
    assert len(found) == 12
    assert found[("B", "median_ttft")]["low"] > 1.5  # vLLM's client on the slow stub vs ours on the fast one
    # Both clients measuring the slow stub agree at the median TTFT (within 15%: a loaded machine's lag).
    vllm_median = found[("B", "median_ttft")]["candidate_value_ms"]
    ours_median = found[("C", "median_ttft")]["candidate_value_ms"]
    assert abs(vllm_median / ours_median - 1) < 0.15, (vllm_median, ours_median)

    table = run_cli("bench", "compare", str(ours_fast), str(vllm_file))
    assert table.returncode == 0 and "vllm bench serve; 40 requests with per-request samples" in table.stdout
