"""`mlops logs query | tail | alerts` as a user runs them (real files, real command), over logs the
real code wrote (tests/integration/_observability_data.py)."""

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
from tests.integration._observability_data import CLEAN_N, RealLogs, real_logs

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> RealLogs:
    return real_logs(tmp_path_factory)


def invoke(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.stdout


def _lines(logs: RealLogs, log_type: str) -> list[dict]:
    return [json.loads(x) for f in sorted((logs.root / log_type).glob("*.log")) for x in f.read_text().splitlines()]


def test_metric_query_prints_a_table_of_series(logs: RealLogs) -> None:
    """Last loss of each of the two training runs, as the files have it."""
    out = invoke("logs", "query", 'last_over_time({job="training"} |= "training_step" | json '
                 '| message="training_step" | unwrap loss [1h]) by (mlflow_run_id)',
                 "--log-dir", str(logs.root), "--end", str(logs.end_ms / 1000))
    lines = out.splitlines()
    assert lines[0].startswith("SERIES") and "instant query at" in lines[0]
    steps = [ln for ln in _lines(logs, "training") if ln["message"] == "training_step"]
    last = {run: [s["loss"] for s in steps if s["mlflow_run_id"] == run][-1] for run in logs.run_ids}
    printed = {ln.split()[0]: float(ln.split()[1]) for ln in lines[1:]}
    assert printed == {f'{{mlflow_run_id="{run}"}}': pytest.approx(loss, rel=1e-4) for run, loss in last.items()}


def test_range_query_json_and_plot(logs: RealLogs, tmp_path: Path) -> None:
    query = ('sum by (model_name) (count_over_time({job="inference"} |= "inference_response" | json '
             '| message="inference_response" [1h]))')
    body = json.loads(invoke("logs", "query", query, "--log-dir", str(logs.root), "--end", str(logs.end_ms / 1000),
                             "--since", "5m", "--step", "1m", "--json"))
    assert body["resultType"] == "matrix"
    last = {r["metric"]["model_name"]: float(r["values"][-1][1]) for r in body["result"]}
    # the gateway's responses: all of the clean benchmark, the faulty one's less its failures
    assert last == {logs.clean_model: CLEAN_N, logs.faulty_model: logs.faulty_n - logs.faulty_failed}
    png = tmp_path / "plots" / "qps.png"
    invoke("logs", "query", query, "--log-dir", str(logs.root), "--end", str(logs.end_ms / 1000), "--since", "5m",
           "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_log_query_prints_matching_lines_and_json_streams(logs: RealLogs) -> None:
    query = '{job="training"} | json | message="training_error" | line_format "{{.error}} (step {{.step}})"'
    out = invoke("logs", "query", query, "--log-dir", str(logs.root), "--end", str(logs.end_ms / 1000))
    (line,) = out.splitlines()
    assert line.endswith("TrainingError: no training example keeps an answer token within "
                         "model.max_seq_len=9; raise it (step 0)")
    body = json.loads(invoke("logs", "query", query, "--log-dir", str(logs.root), "--end", str(logs.end_ms / 1000),
                             "--json"))
    (stream,) = body["result"]
    assert stream["stream"]["job"] == "training" and stream["stream"]["level"] == "ERROR"
    assert stream["values"][0][1].startswith("TrainingError")


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


def test_tail_merges_types_by_time_pretty_or_raw(logs: RealLogs) -> None:
    out = invoke("logs", "tail", "--log-dir", str(logs.root), "-n", "5")
    lines = out.splitlines()
    assert len(lines) == 5 and "\x1b[" not in out  # not a terminal: no colour
    newest = max((ln for t in ("training", "inference", "system", "api") for ln in _lines(logs, t)),
                 key=lambda ln: ln["timestamp"])
    assert f"[{newest['log_type']}/{newest['logger']}] {newest['message']}" in lines[-1]
    raw = invoke("logs", "tail", "--log-dir", str(logs.root), "-n", "3", "--type", "api", "--json").splitlines()
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


def test_alerts_command_reports_firing_rules_with_runbooks(logs: RealLogs) -> None:
    out = invoke("logs", "alerts", "--log-dir", str(logs.root), "--at", str(logs.end_ms / 1000))
    assert "FIRING   TrainingError" in out and "runbook:" in out
    body = json.loads(invoke("logs", "alerts", "--log-dir", str(logs.root), "--at", str(logs.end_ms / 1000), "--json"))
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
