"""`mlops bench compare` on result files written by our real benchmark against the stub (and a
recorded real `vllm bench serve` file, data/vllm_bench_serve.json, see make_vllm_result.py).

Stubs with a seeded lognormal TTFT jitter: two fresh stubs with the same seed draw the same
per-request TTFTs (the same run twice), one with 2.5 times the base TTFT is truly slower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from configs.benchmark import BenchmarkConfig
from configs.errors import BenchmarkError
from tasks.benchmark.bench import run_benchmark
from tasks.benchmark.compare import compare_runs
from tasks.benchmark.compare_inputs import load_run
from tasks.benchmark.compare_report import format_comparison
from tasks.benchmark.vllm_result import vllm_samples
from tests.conftest import run_cli
from tests.unit.benchmark.conftest import stub_process

VLLM_FILE = Path(__file__).parent / "data" / "vllm_bench_serve.json"
KW = {"confidence": 0.95, "resamples": 2000, "seed": 0}


def _run(tmp: Path, name: str, ttft_ms: float, failing: set[int] = frozenset()) -> Path:
    """A fresh stub (so its jitter stream starts at the seed) and one real benchmark run into a file."""
    dataset = tmp / f"{name}.jsonl"
    dataset.write_text("\n".join(json.dumps({"prompt": f"p{i}", "extra_body": {"stub": {"status": 503}}}
                                            if i in failing else {"prompt": f"p{i}"}) for i in range(60)))
    cfg = BenchmarkConfig(num_prompts=60, request_rate=20, max_tokens=8, warmup_requests=1, seed=0,
                          min_success_rate=0.5, dataset_path=dataset)
    gen: Iterator[str] = stub_process("--ttft-ms", str(ttft_ms), "--itl-ms", "2", "--ttft-jitter", "0.5",
                                      "--jitter-seed", "1")
    url = next(gen)
    try:
        run_benchmark(cfg, url, "stub-model", result_file=tmp / f"{name}.json")
    finally:
        gen.close()
    return tmp / f"{name}.json"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("compare")
    return {"base": _run(tmp, "base", 100), "same": _run(tmp, "same", 100), "slower": _run(tmp, "slower", 250),
            "failing": _run(tmp, "failing", 100, failing={3, 10, 50})}


def _intervals(c) -> dict[tuple[str, str], object]:
    return {(i.candidate, i.metric): i for i in c.intervals}


def test_slower_server_interval_excludes_one_same_server_includes_it(files: dict[str, Path]) -> None:
    c = compare_runs([load_run(files[k]) for k in ("base", "slower", "same")], **KW)
    found = _intervals(c)
    for metric in ("median_ttft", "p95_ttft", "median_e2el"):
        slower, same = found[("B", metric)], found[("C", metric)]
        assert slower.low > 1 and slower.verdict == "slower", (metric, slower)
        assert same.low < 1 < same.high and same.verdict == "no clear difference", (metric, same)
    assert 2.0 < found[("B", "median_ttft")].estimate < 3.0   # 250 ms vs 100 ms at the stub, plus the same overhead
    assert c.skipped == {}
    assert {i.metric for i in c.intervals} == {f"{s}_{n}" for s in ("median", "p95") for n in ("ttft", "tpot", "e2el")}


def test_rows_are_the_files_numbers_with_differences_and_ratios(files: dict[str, Path]) -> None:
    a, b = (json.loads(files[k].read_text()) for k in ("base", "slower"))
    c = compare_runs([load_run(files["base"]), load_run(files["slower"])], **KW)
    rows = {r.key: r for r in c.rows}
    for key in ("completed", "duration", "request_throughput", "output_throughput", "median_ttft_ms",
                "p95_ttft_ms", "p99_e2el_ms", "mean_itl_ms"):
        assert rows[key].values == (a[key], b[key])
        assert rows[key].differences == (pytest.approx(b[key] - a[key]),)
    assert rows["median_ttft_ms"].ratios == (pytest.approx(b["median_ttft_ms"] / a["median_ttft_ms"]),)
    assert rows["completed"].ratios == (None,)  # counts get a difference, not a ratio


def test_interval_rests_on_the_successful_requests_only(files: dict[str, Path]) -> None:
    run = load_run(files["failing"])
    data = json.loads(files["failing"].read_text())
    assert (data["completed"], data["failed"]) == (57, 3)
    assert run.requests_sampled == 57
    assert np.median(run.samples["ttft"]) == pytest.approx(data["median_ttft_ms"], abs=1e-3)
    c = compare_runs([load_run(files["base"]), run], **KW)
    assert _intervals(c)[("B", "median_ttft")].candidate_n == 57


def test_recorded_vllm_file_gives_vllms_own_aggregates() -> None:
    """Per-request TTFT/TPOT/E2EL derived from vLLM's arrays reproduce the aggregates vLLM itself
    wrote into the same file (failed requests left out as vLLM leaves them out)."""
    data = json.loads(VLLM_FILE.read_text())
    run = load_run(VLLM_FILE)
    assert run.source == "vllm" and data["failed"] > 0
    assert run.requests_sampled == data["completed"]
    for name in ("ttft", "tpot", "e2el"):
        values = np.asarray(run.samples[name])
        assert values.mean() == pytest.approx(data[f"mean_{name}_ms"], rel=1e-9)
        assert np.median(values) == pytest.approx(data[f"median_{name}_ms"], rel=1e-9)
        assert np.percentile(values, 99) == pytest.approx(data[f"p99_{name}_ms"], rel=1e-9)


def test_older_vllm_file_without_latencies_derives_e2el_from_itls() -> None:
    data = json.loads(VLLM_FILE.read_text())
    del data["latencies"]  # what vLLM wrote before it saved `latencies`
    run_new = load_run(VLLM_FILE)
    samples, why = vllm_samples(data)
    assert why is None
    assert samples["e2el"] == pytest.approx(list(run_new.samples["e2el"]), rel=1e-9)


def test_ours_against_vllms_file_and_missing_numbers_are_na(files: dict[str, Path], tmp_path: Path) -> None:
    older = json.loads(files["same"].read_text())
    for key in ("p95_ttft_ms", "requests", "output_throughput"):
        del older[key]  # a result from a version that lacked them
    (tmp_path / "older.json").write_text(json.dumps(older))
    c = compare_runs([load_run(files["base"]), load_run(VLLM_FILE), load_run(tmp_path / "older.json")], **KW)
    rows = {r.key: r for r in c.rows}
    assert rows["output_throughput"].values[2] is None and rows["output_throughput"].ratios[1] is None
    assert rows["p95_ttft_ms"].values[2] is None
    assert ("B", "median_ttft") in _intervals(c)
    assert c.skipped["C median_ttft"].startswith("C has no per-request samples: no per-request 'requests'")
    text = format_comparison(c)
    assert "vllm bench serve" in text and "n/a" in text
    assert "C median_ttft, C p95_ttft" in text  # the reason once per run, not per metric


def test_cli_table_and_json_print_the_same_numbers(files: dict[str, Path]) -> None:
    args = ("bench", "compare", str(files["base"]), str(files["slower"]), "--resamples", "500", "--seed", "3")
    table, as_json = run_cli(*args), run_cli(*args, "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    out = json.loads(as_json.stdout)
    expected = compare_runs([load_run(files["base"]), load_run(files["slower"])], confidence=0.95, resamples=500,
                            seed=3)
    assert out == json.loads(json.dumps(expected.to_dict()))
    ttft = next(i for i in out["intervals"] if i["metric"] == "median_ttft")
    assert f"{ttft['estimate']:.2f}x [{ttft['low']:.2f}x, {ttft['high']:.2f}x] slower" in table.stdout
    median = next(m for m in out["metrics"] if m["metric"] == "median_ttft_ms")
    assert f"{median['values']['A']:,.2f}" in table.stdout and "ms" in table.stdout
    assert "A (baseline)" in table.stdout and str(files["slower"]) in table.stdout


@pytest.mark.parametrize(("content", "fragment"), [
    ('{"foo": 1}', "is neither an `mlops bench` result (no 'benchmark_run_id') nor a `vllm bench serve"),
    ("not json", "is not a JSON file"),
    ("[1, 2]", "holds a JSON list"),
])
def test_a_file_that_is_neither_is_one_error_line(files: dict[str, Path], tmp_path: Path, content: str,
                                                  fragment: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = run_cli("bench", "compare", str(files["base"]), str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith(f"error: {bad}")
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(BenchmarkError, match="neither|not a JSON|JSON list"):
        load_run(bad)


def test_a_missing_file_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("bench", "compare", str(files["base"]), str(tmp_path / "nope.json"))
    assert proc.returncode == 1 and proc.stderr.startswith(f"error: cannot read benchmark result {tmp_path / 'nope.json'}")


@pytest.mark.parametrize(("extra", "fragment"), [
    ((), "give a baseline and at least one more result file, got 1"),
    (("X", "--confidence", "1.5"), "--confidence must be between 0 and 1"),
    (("X", "--resamples", "10"), "--resamples must be >= 100"),
])
def test_bad_command_line_is_exit_2(files: dict[str, Path], extra: tuple[str, ...], fragment: str) -> None:
    args = [str(files["base"]), *(str(files["same"]) if e == "X" else e for e in extra)]
    proc = run_cli("bench", "compare", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {fragment}") and proc.stderr.count("\n") == 1
