"""`mlops logs schema|validate`, the demo, and the jq recipes users already run."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from logging_lib import InferenceLogger, TrainingLogger
from tests.conftest import run_cli


def test_schema_prints_every_event_schema():
    out = run_cli("logs", "schema")
    assert out.returncode == 0, out.stderr
    schemas = json.loads(out.stdout)
    assert "training_step" in schemas["events"] and schemas["base"]["required"][:3] == ["timestamp", "level", "message"]
    one = run_cli("logs", "schema", "gpu_metrics")
    assert json.loads(one.stdout)["title"] == "gpu_metrics"
    bad = run_cli("logs", "schema", "nope")
    assert bad.returncode != 0 and "unknown event" in bad.stderr


def test_validate_passes_good_files_and_reports_bad_lines(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    log.log_step(1, 1, 0.5, 0.1)
    log.close()
    ok = run_cli("logs", "validate", str(log_dir))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 of 1 files valid" in ok.stdout
    bad = log_dir / "training" / "broken.log"
    bad.write_text('{"timestamp":"2026-01-01T00:00:00.000Z","level":"info","message":"training_step"}\nnot json\n{"a":1')
    out = run_cli("logs", "validate", str(log.path), str(bad))
    assert out.returncode == 1
    assert f"ok    {log.path}" in out.stdout and f"FAIL  {bad}" in out.stdout
    assert "line 1: level" in out.stdout and "line 2: not JSON" in out.stdout and "line 3: unterminated" in out.stdout
    missing = run_cli("logs", "validate", str(log_dir / "nope.log"))
    assert missing.returncode == 2 and "not a file" in missing.stderr


def test_demo_writes_valid_files_of_all_four_types(tmp_path):
    out = run_cli("demo", "--log-dir", str(tmp_path / "logs"), "--seconds", "1")
    assert out.returncode == 0, out.stderr
    for kind in ("training", "inference", "system", "api"):
        files = list((tmp_path / "logs" / kind).glob("*.log"))
        assert files, kind
    assert run_cli("logs", "validate", str(tmp_path / "logs")).returncode == 0


def test_log_dir_from_environment_for_commands(tmp_path):
    out = run_cli("demo", "--seconds", "0.2", env={"MLOPS_LOG_DIR": str(tmp_path / "fromenv")})
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "fromenv" / "training").glob("*.log"))


jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")


def _jq(*args: str) -> str:
    return subprocess.run(["jq", *args], capture_output=True, text=True, check=True).stdout


@jq
def test_jq_recipes_from_the_guide_work_as_written(log_dir):
    steps = TrainingLogger("steps", log_dir=log_dir)
    losses = [0.9, 0.7, 0.5, 0.3]
    for i, loss in enumerate(losses):
        steps.log_step(epoch=1, step=i, loss=loss, learning_rate=1e-4)
    files = [str(p) for p in (log_dir / "training").glob("*.log")]
    assert float(_jq("-s", "map(.loss) | add/length", *files)) == pytest.approx(sum(losses) / 4)
    assert _jq(".loss", *files).split() == ["0.9", "0.7", "0.5", "0.3"]
    assert len(_jq("-c", "select(.loss < 0.6)", *files).splitlines()) == 2

    steps.log_error(RuntimeError("CUDA out of memory"))
    errors = _jq("-c", 'select(.level=="ERROR")', *files).splitlines()
    assert len(errors) == 1 and json.loads(errors[0])["message"] == "training_error"


@jq
def test_jq_recipes_on_mixed_files_with_the_event_selected(log_dir):
    infer = InferenceLogger("gw", log_dir=log_dir)
    for i, latency in enumerate([120.0, 80.5, 300.25]):
        infer.log_request(f"r{i}", "p", "m")
        infer.log_response(f"r{i}", latency_ms=latency, tokens_generated=10, model_name="m")
    files = [str(p) for p in (log_dir / "inference").glob("*.log")]
    # the guide's recipe over response events (requests carry no latency)
    out = _jq("-s", 'map(select(.message=="inference_response")) | map(.latency_ms) | min, max', *files)
    assert out.split() == ["80.5", "300.25"]
    out = _jq("-s", "map(.latency_ms | numbers) | min, max", *files)
    assert out.split() == ["80.5", "300.25"]
