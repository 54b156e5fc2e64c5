"""What users see in the files: event shapes, types, schemas, context, no global side effects."""

from __future__ import annotations

import logging
import re

import pytest
import structlog

from logging_lib import (APILogger, InferenceLogger, SystemLogger, TrainingLogger, bind_context, resolve_log_dir)
from logging_lib.schemas import EVENT_SCHEMAS, validate_file, validate_line
from tests.unit.logging_lib.helpers import read_events

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_training_events_have_fixed_names_numbers_and_base_fields(log_dir):
    log = TrainingLogger("llama3_qlora", log_dir=log_dir)
    log.log_epoch_start(epoch=1, total_epochs=3)
    log.log_step(epoch=1, step=100, loss=0.234, learning_rate=0.0001, gpu_memory_used=14336, gpu_memory_total=31744)
    log.log_validation(epoch=1, val_loss=0.245, val_accuracy=0.89, perplexity=1.28)
    log.log_epoch_end(epoch=1, avg_loss=0.240, time_elapsed=3600)
    log.close()

    events = read_events(log_dir, "training")
    assert [e["message"] for e in events] == ["epoch_start", "training_step", "validation", "epoch_end"]
    step = events[1]
    assert step == {**step, "level": "INFO", "logger": "llama3_qlora", "log_type": "training", "epoch": 1,
                    "step": 100, "loss": 0.234, "learning_rate": 0.0001, "gpu_memory_used": 14336,
                    "gpu_memory_total": 31744}
    assert list(step)[:5] == ["timestamp", "level", "message", "logger", "log_type"]
    assert all(TS.match(e["timestamp"]) for e in events)
    assert events[2]["perplexity"] == 1.28 and events[2]["val_accuracy"] == 0.89
    assert events[3]["time_elapsed_s"] == 3600
    # the file lives where users look for it
    (path,) = (log_dir / "training").glob("*.log")
    assert re.fullmatch(r"llama3_qlora_\d{8}_\d{6}\.log", path.name)
    assert validate_file(path).ok


def test_numbers_are_json_numbers_even_when_passed_as_strings(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    log.log_step(epoch="2", step="7", loss="0.5", learning_rate="1e-4")
    (e,) = read_events(log_dir, "training")
    assert (e["epoch"], e["step"], e["loss"], e["learning_rate"]) == (2.0, 7.0, 0.5, 0.0001)


def test_inference_request_hides_prompt_by_default_and_response_computes_tps(log_dir):
    log = InferenceLogger("vllm_server", log_dir=log_dir)
    log.log_request("req_abc123", "What is machine learning?", "llama-3-8b")
    log.log_response("req_abc123", latency_ms=234.5, tokens_generated=50, model_name="llama-3-8b", ttft_ms=20.1,
                     prompt_tokens=6, completion="Machine learning is ...")
    req, resp = read_events(log_dir, "inference")
    assert "prompt" not in req and req["prompt_chars"] == len("What is machine learning?")
    assert re.fullmatch(r"[0-9a-f]{16}", req["prompt_sha256"])
    assert resp["tokens_per_second"] == pytest.approx(50 / 0.2345, rel=1e-3)
    assert resp["ttft_ms"] == 20.1 and resp["prompt_tokens"] == 6
    assert "completion" not in resp and resp["completion_chars"] == len("Machine learning is ...")


def test_inference_prompts_are_logged_when_opted_in(log_dir):
    log = InferenceLogger("gw", log_dir=log_dir, log_prompts=True)
    log.log_request("r1", [{"role": "user", "content": "hi"}], "m")
    (req,) = read_events(log_dir, "inference")
    assert req["prompt"] == [{"role": "user", "content": "hi"}] and req["prompt_chars"] == 2


def test_api_response_level_follows_status(log_dir):
    log = APILogger("fastapi_server", log_dir=log_dir)
    log.log_request("r1", "POST", "/v1/chat/completions", request_bytes=120)
    for code in (200, 404, 503):
        log.log_response("r1", status_code=code, duration_ms=12.5, response_bytes=10)
    levels = [e["level"] for e in read_events(log_dir, "api")]
    assert levels == ["INFO", "INFO", "WARNING", "ERROR"]


def test_system_gpu_metrics_compute_percent(log_dir):
    log = SystemLogger("sys", log_dir=log_dir)
    log.log_gpu_metrics(gpu_id=0, gpu_memory_used=14336, gpu_memory_total=31744, gpu_utilization=78.5,
                        temperature=65, power_watts=280.5)
    (e,) = read_events(log_dir, "system")
    assert e["message"] == "gpu_metrics" and e["gpu_memory_percent"] == pytest.approx(45.16, abs=0.01)


def test_free_form_messages_through_dot_logger(log_dir):
    log = TrainingLogger("t", log_dir=log_dir, level="DEBUG")
    log.logger.debug("Detailed debug info")
    log.logger.info("Normal operation", step=3)
    log.logger.warning("Something unusual")
    try:
        raise RuntimeError("disk gone")
    except RuntimeError:
        log.logger.exception("Error occurred")
    events = read_events(log_dir, "training")
    assert [(e["level"], e["message"]) for e in events] == [
        ("DEBUG", "Detailed debug info"), ("INFO", "Normal operation"), ("WARNING", "Something unusual"),
        ("ERROR", "Error occurred")]
    assert events[1]["step"] == 3
    assert "RuntimeError: disk gone" in events[3]["exception"]


def test_level_threshold_drops_lower_events(log_dir):
    log = TrainingLogger("t", log_dir=log_dir, level="WARNING")
    log.log_step(1, 1, 0.1, 0.1)
    log.logger.info("quiet")
    log.logger.error("loud")
    assert [e["message"] for e in read_events(log_dir, "training")] == ["loud"]


def test_bound_context_is_added_and_unwound(log_dir):
    log = InferenceLogger("gw", log_dir=log_dir)
    with bind_context(run_id="mlflow123"):
        with bind_context(request_id="req_1"):
            log.log_request("req_1", "p", "m")
        log.logger.info("between")
    log.logger.info("after")
    a, b, c = read_events(log_dir, "inference")
    assert (a["run_id"], a["request_id"]) == ("mlflow123", "req_1")
    assert b["run_id"] == "mlflow123" and "request_id" not in b
    assert "run_id" not in c


def test_same_logger_twice_writes_each_line_once_and_leaves_global_config_alone(log_dir):
    before_structlog = structlog.get_config()
    root = logging.getLogger()
    before_handlers = list(root.handlers)
    a = TrainingLogger("same", log_dir=log_dir)
    b = TrainingLogger("same", log_dir=log_dir)
    c = TrainingLogger("other", log_dir=log_dir)
    a.log_step(1, 1, 0.5, 0.1)
    b.log_step(1, 2, 0.4, 0.1)
    c.log_step(1, 3, 0.3, 0.1)
    assert a.path == b.path != c.path
    assert sorted(e["step"] for e in read_events(log_dir, "training")) == [1, 2, 3]
    assert structlog.get_config() == before_structlog
    assert root.handlers == before_handlers
    assert not structlog.is_configured()


def test_log_dir_from_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_LOG_DIR", str(tmp_path / "envlogs"))
    assert resolve_log_dir(None) == (tmp_path / "envlogs").resolve()
    assert resolve_log_dir(tmp_path / "cli") == (tmp_path / "cli").resolve()
    log = TrainingLogger("envuser")
    log.log_epoch_start(1, 1)
    assert log.path.parent == (tmp_path / "envlogs" / "training").resolve()
    monkeypatch.delenv("MLOPS_LOG_DIR")
    monkeypatch.chdir(tmp_path)
    assert resolve_log_dir(None) == (tmp_path / "logs").resolve()


def test_every_event_has_a_schema_and_bad_lines_are_reported():
    assert {"epoch_start", "training_step", "validation", "epoch_end", "training_error", "inference_request",
            "inference_response", "gpu_metrics", "system_metrics", "api_request", "api_response",
            "gpu_unavailable"} <= set(EVENT_SCHEMAS)
    good = ('{"timestamp":"2026-01-01T00:00:00.000Z","level":"INFO","message":"training_step","logger":"t",'
            '"log_type":"training","epoch":1,"step":1,"loss":0.5,"learning_rate":0.1}')
    assert validate_line(good) == []
    assert any("loss" in p for p in validate_line(good.replace('"loss":0.5', '"loss":"0.5"')))
    assert any("step" in p for p in validate_line(good.replace('"step":1,', '')))
    assert validate_line("{not json") and validate_line("[1]")


def test_console_echo_is_human_readable(log_dir, capsys):
    log = TrainingLogger("echo", log_dir=log_dir, console=True)
    log.log_step(1, 5, 0.25, 0.001)
    err = capsys.readouterr().err
    assert "INFO" in err and "[echo] training_step" in err and "loss=0.25" in err


def test_console_echoes_each_event_exactly_once(log_dir, capsys):
    """One console line per event written: typed, free-form, with bound context, below the level."""
    log = TrainingLogger("echo", log_dir=log_dir, console=True)
    log.log_step(1, 5, 0.25, 0.001)
    with bind_context(mlflow_run_id="r1"):
        log.log_epoch_end(epoch=1, avg_loss=0.3, time_elapsed=2.0)
        log.logger.info("free form", detail=1)
    log.logger.debug("not shown")  # below INFO: neither written nor echoed
    log.log_step(1, 6, float("nan"), 0.001)  # the sanitiser's path
    log.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    assert [ln.split("] ", 1)[1].split(" ", 1)[0] for ln in lines] == [
        "training_step", "epoch_end", "free", "training_step"]
    assert "mlflow_run_id=r1" in lines[1] and "mlflow_run_id=r1" in lines[2]
    assert len(read_events(log_dir, "training")) == 4


def test_the_clock_is_injected_not_patched(log_dir):
    stamps = iter(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:05.250Z"])
    log = TrainingLogger("replay", log_dir=log_dir, clock=lambda: next(stamps))
    log.log_step(1, 1, 0.5, 0.1)
    log.logger.info("free form")
    log.close()
    assert [e["timestamp"] for e in read_events(log_dir, "training")] == ["2026-01-01T00:00:00.000Z",
                                                                          "2026-01-01T00:00:05.250Z"]
