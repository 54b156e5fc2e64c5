"""The file reader under both pipelines: lines written by the real loggers, read at the layout's
offsets; malformed lines timed by one rule; the fused and staged pipelines agree on all of them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from logging_lib import InferenceLogger, SystemLogger
from logging_lib import line_layout as L
from logging_lib.logql import LogQLError, evaluate, parse
from logging_lib.logql import scan as scan_mod
from logging_lib.logql import ast as A
from logging_lib.logql.engine import Evaluator, Window
from logging_lib.logql.pipeline import compile_pipeline
from logging_lib.logql.source import discover, parse_ts


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class Clock:
    """The loggers' injectable clock: each line's timestamp is `now_ms` when it is written."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> str:
        return iso(self.now_ms)


def now_ms() -> int:
    return int(time.time()) * 1000  # files are named by their real creation time: stamp lines near it


def lines_of(root: Path, job: str) -> list[bytes]:
    (path,) = (root / job).glob("*.log")
    return path.read_bytes().splitlines()


def test_a_real_logger_line_has_the_fixed_head_the_scan_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = now_ms() - 60_000
    clock = Clock(t0 + 123)
    inf = InferenceLogger("svc", str(tmp_path), clock=clock)
    inf.log_request("r1", "hi", "m1")
    clock.now_ms = t0 + 1_456
    inf.log_error("r1", "boom", "m1")
    inf.close()
    sysl = SystemLogger("mon", str(tmp_path), clock=clock)
    sysl.log_gpu_unavailable("no GPU here")
    sysl.close()
    info, error = lines_of(tmp_path, "inference")
    (warning,) = lines_of(tmp_path, "system")
    for raw in (info, error, warning):
        assert L.has_fixed_head(raw) and raw[L.LEVEL_KEY_AT] == L.LEVEL_KEY
        assert raw[39:48] != L.LEVEL_KEY  # the offset the engine used to check: one byte short, never true

    def no_json(raw: bytes) -> object:  # both facts must come from the offsets alone
        raise AssertionError(f"parsed as JSON: {raw[:60]!r}")

    monkeypatch.setattr(scan_mod, "_LOADS", no_json)
    assert [scan_mod.line_level(raw, False) for raw in (info, error, warning)] == ["INFO", "ERROR", "WARNING"]
    f = discover(tmp_path)[0]
    assert [ts for _f, ts, _raw in scan_mod.scan([f], (), [], 0, t0 + 60_000)] == [t0 + 123, t0 + 1_456]
    monkeypatch.undo()
    res = evaluate('{job="inference", level="ERROR"}', tmp_path, end_ms=t0 + 60_000)
    assert [(e.ts_ms, e.labels["level"]) for e in res.entries] == [(t0 + 1_456, "ERROR")]


@pytest.mark.parametrize("ms", [b"-12", b"+12", b" 12", b"1_2", b"1x3"])
def test_a_malformed_millisecond_field_makes_the_line_take_the_time_before_it(tmp_path: Path, ms: bytes) -> None:
    t0 = now_ms() - 60_000
    clock = Clock(t0 + 500)
    log = InferenceLogger("svc", str(tmp_path), clock=clock)
    for i in range(3):
        clock.now_ms = t0 + 500 + i * 1000
        log.log_request(f"r{i}", "hi", "m1")
    log.close()
    (path,) = (tmp_path / "inference").glob("*.log")
    first, middle, last = path.read_bytes().splitlines()
    middle = middle[:L.MS_START] + ms + middle[L.MS_END:]  # int() takes all but the last: no writer emits them
    path.write_bytes(b"\n".join((first, middle, last)) + b"\n")
    res = evaluate('{job="inference"}', tmp_path, end_ms=t0 + 60_000)
    assert [e.ts_ms for e in res.entries] == [t0 + 500, t0 + 500, t0 + 2_500]
    assert parse_ts(middle[L.TS_START:L.TS_END]) is None  # the JSON path's parser says the same


def test_a_line_stamped_before_its_file_is_outside_the_window_on_both_paths(tmp_path: Path) -> None:
    """The fused path used to skip reading times in a file wholly inside an instant query's window,
    so it counted this line and the staged path did not."""
    t0 = now_ms()
    clock = Clock(t0)
    log = InferenceLogger("svc", str(tmp_path), clock=clock)
    for i in range(10):
        clock.now_ms = t0 + i * 1000 if i != 3 else t0 - 3 * 3_600_000
        log.log_response(f"r{i}", latency_ms=float(i), tokens_generated=1, model_name="m")
    log.close()
    os.utime(log.path, ((t0 + 9_000) / 1000,) * 2)
    query = parse('sum_over_time({job="inference"} | json | message="inference_response" | unwrap latency_ms [1h])'
                  ' by (model_name)')
    window = Window(t0 + 20_000, t0 + 20_000, 1)
    files = discover(tmp_path)
    f = files[0]  # the file lies wholly inside the window: created after its start, last written before its end
    assert f.created_ms is not None and window.end_ms - 3_600_000 < f.created_ms and f.mtime_ms <= window.end_ms
    for fused in (True, False):
        assert Evaluator(files, window, fused=fused).eval(query) == {(("model_name", "m"),): {0: 42.0}}


def _corpus(root: Path) -> int:
    """Real logger lines for three models, then the malformed lines a log folder really gets."""
    t0 = now_ms()
    clock = Clock(t0)
    log = InferenceLogger("svc", str(root), clock=clock)
    for i in range(300):
        clock.now_ms = t0 + i * 1_700
        model = ("m1", "m2", "m3")[i % 3]
        log.log_request(f"r{i}", "hi", model)
        if i % 13 == 0:
            clock.now_ms = t0 - 7_200_000  # a line stamped long before its file (a replay, a wrong clock)
        log.log_response(f"r{i}", latency_ms=round(1 + (i * 37) % 500, 2), tokens_generated=10, model_name=model,
                         ttft_ms=("n/a" if i % 21 == 0 else float(i % 50)) if i % 7 == 0 else None)
    log.close()
    (path,) = (root / "inference").glob("*.log")
    lines = path.read_bytes().splitlines()
    good = [raw for raw in lines if b"inference_response" in raw and b"n/a" not in raw]
    bad = [
        good[1][:L.MS_START] + b"1x3" + good[1][L.MS_END:],  # bad millisecond field
        good[2][:L.MS_START] + b"-12" + good[2][L.MS_END:],  # one int() takes
        good[3][:L.SECOND_END - 2] + b"7x" + good[3][L.SECOND_END:],  # bad timestamp (second)
        b"Traceback (most recent call last): inference_response",  # not JSON
        good[4][:70],  # truncated (a writer killed mid-line)
        orjson.dumps(dict(reversed(list(orjson.loads(good[5]).items())))),  # other key order
        orjson.dumps({**orjson.loads(good[6]), "timestamp": "yesterday"}),  # JSON, unreadable time
        b"",  # empty line
    ]
    out = []
    for i, raw in enumerate(lines):  # spread them between the good lines
        out.append(raw)
        if i % 37 == 5 and bad:
            out.append(bad.pop())
    path.write_bytes(b"\n".join(out + bad) + b"\n")
    os.utime(path, ((t0 + 600_000) / 1000,) * 2)
    return t0


def test_the_fused_and_staged_pipelines_agree_on_real_and_malformed_lines(tmp_path: Path) -> None:
    t0 = _corpus(tmp_path)
    sel = '{job="inference"} |= "inference_response" | json | message="inference_response"'
    queries = [f'{fn}({sel}{filt} | unwrap {field} [{rng}]) by ({by})'
               for fn in ("sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "first_over_time",
                          "last_over_time", "rate", "quantile_over_time(0.9,")
               for filt, field, by, rng in (("", "latency_ms", "model_name", "2h"),
                                            (" | latency_ms > 100", "latency_ms", "model_name, job", "30s"),
                                            (" | ttft_ms < 40", "latency_ms", "model_name", "1m"),
                                            ("", "ttft_ms", "model_name", "5m"))]
    queries = [q.replace("quantile_over_time(0.9,(", "quantile_over_time(0.9, ") for q in queries]
    files = discover(tmp_path)
    windows = (Window(t0 + 600_000, t0 + 600_000, 1), Window(t0 + 100_000, t0 + 100_000, 1),
               Window(t0 - 60_000, t0 + 600_000, 20_000))
    compared = 0
    for window in windows:
        for text in queries:
            expr = parse(text)
            assert isinstance(expr, A.RangeAgg) and expr.grouping is not None
            assert compile_pipeline(expr.query, None, by=expr.grouping.labels).fast is not None, text
            staged = _eval(files, window, expr, fused=False)
            fused = _eval(files, window, expr, fused=True)
            assert fused == staged, text
            compared += not isinstance(staged, str)
    assert compared > len(queries)  # most queries give numbers, not the same error on both sides


def _eval(files, window, expr, fused: bool) -> object:
    try:
        return Evaluator(files, window, fused=fused).eval(expr)
    except LogQLError as exc:
        return str(exc).split("'")[1]  # the Loki error name (e.g. SampleExtractionErr)
