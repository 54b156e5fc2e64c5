"""`mlops bench sweep` end to end against the stub server: progress lines, the JSON and the plot,
the lower bound and the none-found answers said plainly, and bad input refused naming its flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from configs.errors import BenchmarkError
from tasks.benchmark.sweep import read_sweep
from tasks.benchmark.tasks import capacity_sweep_task
from tests.conftest import REPO_ROOT, run_cli


def _documented_sweep_json() -> dict:
    """The example JSON in docs/benchmark.md's "Capacity at an SLO" section."""
    text = (REPO_ROOT / "docs" / "benchmark.md").read_text()
    block = text[text.index("The result JSON (`sweep_result.py`"):]
    return json.loads(block[block.index("```json") + 7:block.index("```", block.index("```json") + 7)])


def test_sweep_max_rate_passing_is_reported_as_a_lower_bound(stub_url: str, tmp_path: Path, log_dir: Path) -> None:
    out = tmp_path / "sweep.json"
    proc = run_cli("bench", "sweep", "--base-url", stub_url, "--model", "stub-model", "--slo", "ttft:2000",
                   "--slo", "e2el:5000", "--start-rate", "8", "--max-rate", "16", "--duration-s", "1",
                   "--min-requests", "10", "--max-tokens", "4", "--result-file", str(out), "--log-dir", str(log_dir),
                   timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines if ln.startswith("step ")] == ["step 1", "step 2"]
    assert "attainment" in lines[0] and "TTFT p50" in lines[0] and lines[0].endswith("pass")
    assert "capacity at least 16 requests/s" in proc.stdout and "lower bound" in proc.stdout
    data = json.loads(out.read_text())
    assert data["max_rate_meeting_slo"] == 16.0 and data["bound"] == "lower_bound"
    assert data["slos_ms"] == {"ttft": 2000.0, "e2el": 5000.0} and data["attainment"] == 0.99
    assert [r["request_rate"] for r in data["rows"]] == [8.0, 16.0]
    assert [r["num_prompts"] for r in data["rows"]] == [10, 16]               # max(min_requests, rate x duration)
    assert all(r["slo_attainment"] == 1.0 and r["verdict"] == "pass" for r in data["rows"]), data["rows"]
    assert read_sweep(out).max_rate_meeting_slo_per_s == 16.0
    documented = _documented_sweep_json()
    assert list(documented) == list(data)                                     # the docs show every key, in order
    row_keys = set(documented["rows"][0]) - {"..."}
    assert row_keys <= set(data["rows"][0])
    assert set(documented["rows"][0]["saturation"]) == set(data["rows"][0]["saturation"])
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((log_dir / "inference").glob("benchmark_*.log"))             # the steps' client-side events


def test_sweep_where_no_rate_meets_the_slo_says_so(stub_url: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    proc = run_cli("bench", "sweep", "--base-url", stub_url, "--model", "stub-model", "--slo", "ttft:0.001",
                   "--start-rate", "8", "--min-rate", "4", "--duration-s", "1", "--min-requests", "5",
                   "--max-tokens", "2", "--result-file", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no rate tried met the SLO" in proc.stdout and "even the min rate 4" in proc.stdout
    data = json.loads(out.read_text())
    assert data["max_rate_meeting_slo"] is None and data["bound"] == "none"
    assert [r["request_rate"] for r in data["rows"]] == [8.0, 4.0]            # stepped down, not up
    assert all(r["verdict"] == "miss" for r in data["rows"]), [(r["verdict"], r["saturation"]) for r in data["rows"]]


@pytest.mark.parametrize("args, flag", [
    (["--slo", "speed:3"], "--slo"),
    ([], "--slo"),
    (["--slo", "ttft:100", "--start-rate", "100", "--max-rate", "10"], "--start-rate"),
    (["--slo", "ttft:100", "--attainment", "1.5"], "--attainment"),
    (["--slo", "ttft:100", "--growth-factor", "1"], "--growth-factor"),
    (["--slo", "ttft:100", "--max-tokens", "0"], "--max-tokens"),
])
def test_sweep_bad_input_names_the_flag(args: list[str], flag: str, tmp_path: Path) -> None:
    proc = run_cli("bench", "sweep", "--base-url", "http://127.0.0.1:1", "--model", "m",
                   "--result-file", str(tmp_path / "s.json"), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and flag in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.json").exists()


def test_sweep_against_no_server_is_one_error_line(tmp_path: Path, free_port: int) -> None:
    proc = run_cli("bench", "sweep", "--base-url", f"http://127.0.0.1:{free_port}", "--model", "m", "--slo", "ttft:100",
                   "--result-file", str(tmp_path / "s.json"), timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "warm-up" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_capacity_sweep_task_returns_the_capacity_and_its_files(stub_url: str, tmp_path: Path) -> None:
    cap = CapacityConfig(slo_ttft_ms=2000.0, start_rate_per_s=4.0, max_rate_per_s=8.0, duration_s=1.0, min_requests=5)
    out = tmp_path / "cap" / "sweep.json"
    summary = capacity_sweep_task.fn(BenchmarkConfig(max_tokens=3), cap, stub_url, "stub-model", str(out),
                                     log_dir=str(tmp_path / "logs"))
    assert summary == {"max_rate_meeting_slo": 8.0, "bound": "lower_bound", "result_file": str(out),
                       "plot_file": str(out.with_suffix(".png")), "steps": 2}
    assert read_sweep(out).max_rate_meeting_slo_per_s == 8.0 and out.with_suffix(".png").exists()


def test_read_sweep_names_a_file_that_is_not_one(tmp_path: Path) -> None:
    bench_result = tmp_path / "bench.json"
    bench_result.write_text('{"completed": 3}')
    with pytest.raises(BenchmarkError, match=r"bench.json: .*max_rate_meeting_slo"):
        read_sweep(bench_result)
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(BenchmarkError, match="cannot read sweep result"):
        read_sweep(tmp_path / "junk.json")
