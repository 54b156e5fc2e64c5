"""`mlops logs query | tail | alerts` as a user runs them (real files, real command)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import REPO_ROOT, run_cli
from tests.integration._observability_data import INCIDENTS, write_logs

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def incident_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("cli-logs")
    return root, write_logs(root, minutes=5, incidents=INCIDENTS)


def invoke(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.stdout


def test_metric_query_prints_a_table_of_series(incident_logs: tuple[Path, int]) -> None:
    root, end_ms = incident_logs
    out = invoke("logs", "query", 'max_over_time({job="system"} |= "gpu_metrics" | json | message="gpu_metrics" '
                 '| unwrap temperature [5m]) by (gpu_id)', "--log-dir", str(root), "--end", str(end_ms / 1000))
    lines = out.splitlines()
    assert lines[0].startswith("SERIES") and "instant query at" in lines[0]
    assert lines[1].split() == ['{gpu_id="0"}', "92"]
    assert lines[2].startswith('{gpu_id="1"}') and float(lines[2].split()[1]) <= 70


def test_range_query_json_and_plot(incident_logs: tuple[Path, int], tmp_path: Path) -> None:
    root, end_ms = incident_logs
    query = 'sum by (model_name) (count_over_time({job="inference"} |= "inference_response" | json [1m]))'
    body = json.loads(invoke("logs", "query", query, "--log-dir", str(root), "--end", str(end_ms / 1000),
                             "--since", "5m", "--step", "1m", "--json"))
    assert body["resultType"] == "matrix"
    base = next(r for r in body["result"] if r["metric"] == {"model_name": "base-model"})
    assert [float(v) for _t, v in base["values"]][-4:] == [24.0] * 4  # 2 base-model responses per 5 s tick
    png = tmp_path / "plots" / "qps.png"
    invoke("logs", "query", query, "--log-dir", str(root), "--end", str(end_ms / 1000), "--since", "5m",
           "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_log_query_prints_matching_lines_and_json_streams(incident_logs: tuple[Path, int]) -> None:
    root, end_ms = incident_logs
    query = '{job="training"} | json | message="training_error" | line_format "{{.error}} (step {{.step}})"'
    out = invoke("logs", "query", query, "--log-dir", str(root), "--end", str(end_ms / 1000))
    (line,) = out.splitlines()
    assert line.endswith("training RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (step 58)")
    body = json.loads(invoke("logs", "query", query, "--log-dir", str(root), "--end", str(end_ms / 1000), "--json"))
    (stream,) = body["result"]
    assert stream["stream"]["job"] == "training" and stream["stream"]["level"] == "ERROR"
    assert stream["values"][0][1].startswith("RuntimeError")


def test_bad_query_exits_1_with_the_position(tmp_path: Path) -> None:
    res = run_cli("logs", "query", 'sum(count_over_time({job="api"}[5m])) or vector(0)', "--log-dir", str(tmp_path))
    assert res.returncode == 1
    assert "'or' is valid LogQL but not supported" in res.stderr and "at position 38" in res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == "  " + " " * 38 + "^"
    assert "Traceback" not in res.stderr


def test_query_over_the_demo_matches_a_hand_computed_average(tmp_path: Path) -> None:
    res = run_cli("demo", "--log-dir", str(tmp_path), "--seconds", "1")
    assert res.returncode == 0, res.stderr
    latencies = [json.loads(ln)["latency_ms"] for p in (tmp_path / "inference").glob("*.log")
                 for ln in p.read_text().splitlines() if '"inference_response"' in ln]
    out = invoke("logs", "query", 'avg_over_time({job="inference"} |= "inference_response" | json '
                 '| message="inference_response" | unwrap latency_ms [5m]) by (model_name)',
                 "--log-dir", str(tmp_path), "--json")
    (series,) = json.loads(out)["result"]
    assert series["metric"] == {"model_name": "demo-model"}
    assert float(series["value"][1]) == pytest.approx(statistics.fmean(latencies))


def test_tail_merges_types_by_time_pretty_or_raw(incident_logs: tuple[Path, int]) -> None:
    root, _end = incident_logs
    out = invoke("logs", "tail", "--log-dir", str(root), "-n", "5")
    lines = out.splitlines()
    assert len(lines) == 5 and "\x1b[" not in out  # not a terminal: no colour
    assert any("[training/qlora_tiny] epoch_end" in ln for ln in lines)
    raw = invoke("logs", "tail", "--log-dir", str(root), "-n", "3", "--type", "api", "--json").splitlines()
    assert [json.loads(ln)["log_type"] for ln in raw] == ["api"] * 3
    stamps = [json.loads(ln)["timestamp"] for ln in raw]
    assert stamps == sorted(stamps)


def test_tail_follow_picks_up_new_lines_and_new_files(tmp_path: Path) -> None:
    folder = tmp_path / "inference"
    folder.mkdir()
    old = folder / "gw_20260101_000000.log"
    old.write_text('{"timestamp":"2026-01-01T00:00:00.000Z","level":"INFO","message":"old","logger":"gw",'
                   '"log_type":"inference"}\n')
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "logs", "tail", "--log-dir", str(tmp_path), "-f",
                             "-n", "0", "--json", "--stop-after-s", "3"], stdout=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(1.2)
        with old.open("a") as fh:
            fh.write('{"timestamp":"2026-01-01T00:00:01.000Z","level":"INFO","message":"appended"')
            fh.flush()
            time.sleep(0.7)  # a torn line is held back until its newline arrives
            fh.write(',"logger":"gw","log_type":"inference"}\n')
        (folder / "gw_20260101_000100.log").write_text(
            '{"timestamp":"2026-01-01T00:01:00.000Z","level":"INFO","message":"rotated","logger":"gw",'
            '"log_type":"inference"}\n')
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [json.loads(ln)["message"] for ln in out.splitlines()] == ["appended", "rotated"]


def test_alerts_command_reports_firing_rules_with_runbooks(incident_logs: tuple[Path, int]) -> None:
    root, end_ms = incident_logs
    out = invoke("logs", "alerts", "--log-dir", str(root), "--at", str(end_ms / 1000))
    assert "FIRING   GPUMemoryHigh" in out and "runbook:" in out
    body = json.loads(invoke("logs", "alerts", "--log-dir", str(root), "--at", str(end_ms / 1000), "--json"))
    assert {a["alert"]: a["state"] for a in body}["TrainingError"] == "firing"


def test_commands_name_what_to_fix(tmp_path: Path) -> None:
    def said(*args: str) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 2
        return " ".join(res.output.replace("│", " ").split())  # typer draws a box and wraps

    assert "does not exist" in said("logs", "query", '{job="api"}', "--log-dir", str(tmp_path / "nope"))
    assert "use a duration such as" in said("logs", "query", '{job="api"}', "--log-dir", str(tmp_path),
                                            "--since", "ten")
    assert "choose from training, inference, system, api, vllm" in said("logs", "tail", "--log-dir", str(tmp_path),
                                                                       "--type", "gpu")
