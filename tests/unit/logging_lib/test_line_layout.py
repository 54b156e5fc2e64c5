"""The byte layout fast readers rely on (line_layout.py) holds for lines the real loggers write."""

from __future__ import annotations

import orjson

from logging_lib import APILogger, InferenceLogger, SystemLogger, TrainingLogger, bind_context
from logging_lib import line_layout as lay
from testkit.clock import SimClock

# across a second, a day and a year boundary, every millisecond position used
START_MS = 1830297599000  # 2027-12-31T23:59:59.000Z


def _write_every_kind(log_dir) -> None:
    clock = SimClock(START_MS, step_ms=499)
    training = TrainingLogger("layout", log_dir=log_dir, level="DEBUG", clock=clock)
    inference = InferenceLogger("layout", log_dir=log_dir, clock=clock)
    api = APILogger("layout", log_dir=log_dir, clock=clock)
    system = SystemLogger("layout", log_dir=log_dir, clock=clock)
    with bind_context(mlflow_run_id="run_1", timestamp="bound keys never move the head"):
        training.log_step(1, 2, float("nan"), 1e-4, extra_field="x", level="not the head's level")
        training.log_error(RuntimeError("boom"))
        training.logger.debug({"not": "a string message"})
        training.logger.warning("free form", message="shadowed")
    inference.log_request("req_1", "prompt", "model")
    inference.log_response("req_1", 10.5, 3, "model")
    inference.log_benchmark_error("req_1", "timeout")
    api.log_response("req_1", 503, 1.5)
    system.log_event("monitor_error", level="critical", error="x")
    for log in (training, inference, api, system):
        log.close()


def test_every_written_line_has_the_fixed_head_and_its_offsets_give_timestamp_and_level(log_dir):
    _write_every_kind(log_dir)
    raws = [raw for path in sorted(log_dir.rglob("*.log")) for raw in path.read_bytes().splitlines()]
    assert len(raws) == 9
    levels, stamps = set(), set()
    for raw in raws:
        line = orjson.loads(raw)
        assert list(line)[:len(lay.HEAD_KEYS)] == list(lay.HEAD_KEYS)
        assert lay.has_fixed_head(raw), raw[:60]
        assert raw[lay.TS_START:lay.TS_END].decode() == line["timestamp"]
        assert raw[lay.TS_START:lay.SECOND_END].decode() == line["timestamp"][:19]
        assert int(raw[lay.MS_START:lay.MS_END]) == int(line["timestamp"][20:23])
        assert raw[lay.TS_END + 1:lay.LEVEL_START] == lay.LEVEL_PREFIX
        assert raw[lay.LEVEL_KEY_AT] == lay.LEVEL_KEY
        level = raw[lay.LEVEL_START:raw.index(b'"', lay.LEVEL_START)].decode()
        assert level == line["level"]
        levels.add(level)
        stamps.add(line["timestamp"])
    assert levels == {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert {"2027-12-31T23:59:59.000Z", "2027-12-31T23:59:59.998Z", "2028-01-01T00:00:00.497Z"} <= stamps


def test_a_line_from_another_writer_is_not_trusted():
    spaced = b'{"timestamp": "2026-11-26T08:15:22.123Z", "level": "INFO"}'
    no_millis = b'{"timestamp":"2026-11-26T08:15:22Z","level":"INFO"}'
    other_first = b'{"level":"INFO","timestamp":"2026-11-26T08:15:22.123Z"}'
    assert not any(map(lay.has_fixed_head, (spaced, no_millis, other_first)))
