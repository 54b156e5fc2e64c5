"""The LogQL evaluator against hand-written log files whose answers are known (Loki semantics)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from logging_lib.logql import LogQLError, evaluate, parse, quantile
from logging_lib.logql.engine import Evaluator, Window, discover

T0 = 1_790_000_000_000  # an arbitrary epoch ms, on a whole minute


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def write(root: Path, job: str, events: list[dict] | list[str], name: str = "svc") -> Path:
    """A log file as our loggers write it: named by its creation time, mtime = its last line."""
    stamps = [e["ts"] for e in events if isinstance(e, dict)] or [T0]
    folder = root / job
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_{time.strftime('%Y%m%d_%H%M%S', time.gmtime(min(stamps) // 1000))}.log"
    lines = []
    for e in events:
        if isinstance(e, str):
            lines.append(e)
            continue
        e = dict(e)
        ts = e.pop("ts")
        lines.append(json.dumps({"timestamp": iso(ts), "level": e.pop("level", "INFO"), "message": e.pop("message"),
                                 "logger": name, "log_type": job, **e}, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (max(stamps) / 1000, max(stamps) / 1000))
    return path


def resp(ts: int, latency: float, model: str = "m1", rid: str = "r", **kw) -> dict:
    return {"ts": ts, "message": "inference_response", "request_id": rid, "model_name": model, "latency_ms": latency,
            "tokens_generated": 10, **kw}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    write(tmp_path, "inference", [
        {"ts": T0 + 1000, "message": "inference_request", "request_id": "a", "model_name": "m1", "prompt_chars": 5},
        resp(T0 + 2000, 100.0, "m1", "a"),
        resp(T0 + 3000, 300.0, "m1", "b"),
        resp(T0 + 4000, 200.0, "m2", "c", ttft_ms=20.0),
        {"ts": T0 + 5000, "level": "ERROR", "message": "inference_error", "request_id": "d", "error": "boom"},
    ])
    write(tmp_path, "api", [
        {"ts": T0 + 1000, "message": "api_response", "request_id": "a", "status_code": 200, "duration_ms": 5.0},
        {"ts": T0 + 2000, "level": "ERROR", "message": "api_response", "request_id": "b", "status_code": 503,
         "duration_ms": 7.0},
        {"ts": T0 + 3000, "level": "WARNING", "message": "api_response", "request_id": "c", "status_code": 404,
         "duration_ms": 1.0, "meta": {"route": "/v1/x", "tags": [1, 2]}, "note": None},
    ])
    write(tmp_path, "vllm", ["INFO 11-26 08:15:22 [api_server.py:1] started", "ERROR 11-26 08:15:23 [x.py:2] oh no"])
    return tmp_path


END = T0 + 60_000


def values(res) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.points[-1][1] for s in res.series}


def q(logs: Path, query: str, **kw):
    return evaluate(query, logs, end_ms=kw.pop("end_ms", END), since_ms=kw.pop("since_ms", 3_600_000), **kw)


def test_stream_selectors_use_the_labels_alloy_attaches(logs: Path) -> None:
    res = q(logs, '{job="api"}')
    assert len(res.entries) == 3
    labels = res.entries[0].labels
    assert labels["job"] == "api" and labels["service"] == "mlops" and labels["level"] == "INFO"
    assert labels["filename"].endswith(".log") and labels["host"]
    assert len(q(logs, '{job=~"api|inference", level!="INFO"}').entries) == 3
    assert len(q(logs, '{service="mlops", level=~"ERROR|CRITICAL"}').entries) == 3  # vLLM's level from its text
    assert len(q(logs, '{service="mlops", job!~"api|vllm"}').entries) == 5


def test_line_filters(logs: Path) -> None:
    assert len(q(logs, '{job="inference"} |= "inference_response"').entries) == 3
    assert len(q(logs, '{job="inference"} != "inference_response"').entries) == 2
    assert len(q(logs, '{job="inference"} |~ "m[12]\\",\\"latency"').entries) == 3
    assert len(q(logs, '{job="inference"} !~ `"request_id":"[ab]"`').entries) == 2


def test_json_labels_follow_loki_rules(logs: Path) -> None:
    (entry,) = q(logs, '{job="api"} | json | status_code == 404').entries
    assert entry.labels["level"] == "WARNING" and entry.labels["level_extracted"] == "WARNING"
    assert entry.labels["meta_route"] == "/v1/x"  # nested objects are flattened with _
    assert "meta_tags" not in entry.labels and "note" not in entry.labels  # arrays and null are skipped
    assert entry.labels["duration_ms"] == "1.0" and entry.labels["status_code"] == "404"


def test_label_filters_numeric_string_and_boolean_logic(logs: Path) -> None:
    def ids(query: str) -> list[str]:
        return [e.labels["request_id"] for e in q(logs, query).entries]

    assert ids('{job="inference"} | json | latency_ms >= 200') == ["b", "c"]
    assert ids('{job="inference"} | json | latency_ms > 150 and model_name="m1"') == ["b"]
    assert ids('{job="inference"} | json | latency_ms < 150 or model_name=~"m2"') == ["a", "c"]
    assert ids('{job="inference"} | json | (latency_ms == 100, model_name!="m2") or request_id="d"') == ["a", "d"]
    assert ids('{job="inference"} | json | model_name!="m1"') == ["c", "d"]  # d has none: "" != "m1"
    assert ids('{job="api"} | json | meta_route=~"/v1/.*"') == ["c"]


def test_line_format_rewrites_the_line(logs: Path) -> None:
    res = q(logs, '{job="inference"} | json | message="inference_response" | line_format "{{.request_id}}={{.latency_ms}}"')
    assert [e.line for e in res.entries] == ["a=100.0", "b=300.0", "c=200.0"]
    res = q(logs, '{job="inference"} | json | line_format "{{.model_name}}" |= "m2"')
    assert [e.line for e in res.entries] == ["m2"]


def test_range_aggregations_and_their_values(logs: Path) -> None:
    sel = '{job="inference"} | json | message="inference_response" | unwrap latency_ms'
    assert values(q(logs, f"avg_over_time({sel} [5m]) by (model_name)")) == {
        (("model_name", "m1"),): 200.0, (("model_name", "m2"),): 200.0}
    assert values(q(logs, f"max_over_time({sel} [5m]) by (model_name)"))[(("model_name", "m1"),)] == 300.0
    assert values(q(logs, f"min_over_time({sel} [5m]) by (model_name)"))[(("model_name", "m1"),)] == 100.0
    assert values(q(logs, f"sum_over_time({sel} [5m]) by (model_name)"))[(("model_name", "m1"),)] == 400.0
    assert values(q(logs, f"first_over_time({sel} [5m]) by (model_name)"))[(("model_name", "m1"),)] == 100.0
    assert values(q(logs, f"last_over_time({sel} [5m]) by (model_name)"))[(("model_name", "m1"),)] == 300.0
    assert values(q(logs, f"quantile_over_time(0.75, {sel} [5m]) by (job)")) == {(("job", "inference"),): 250.0}
    assert values(q(logs, f"rate({sel} [1m]) by (job)")) == {(("job", "inference"),): 600.0 / 60}
    assert values(q(logs, 'count_over_time({job="api"} [1m])')) == {
        tuple(sorted({"job": "api", "service": "mlops", "host": lb["host"], "filename": lb["filename"],
                      "level": lvl}.items())): 1.0
        for lvl in ("INFO", "ERROR", "WARNING") for lb in [q(logs, '{job="api"}').entries[0].labels]}
    assert values(q(logs, 'sum(rate({job="api"} [1m]))')) == {(): 3 / 60}
    b = values(q(logs, 'sum(bytes_over_time({job="vllm"} [5m]))'))[()]  # text lines: stamped at file creation
    assert b == len("INFO 11-26 08:15:22 [api_server.py:1] started") + len("ERROR 11-26 08:15:23 [x.py:2] oh no")


def test_unwrap_without_grouping_keeps_every_other_label_including_ids(logs: Path) -> None:
    res = q(logs, 'avg_over_time({job="inference"} | json | message="inference_response" | unwrap latency_ms [5m])')
    assert len(res.series) == 3  # one per request: why dashboards must say by (...)
    assert all("latency_ms" not in s.labels and s.labels["request_id"] for s in res.series)


def test_unwrap_drops_lines_without_the_field_and_errors_on_non_numbers(logs: Path) -> None:
    res = q(logs, 'sum by (model_name) (sum_over_time({job="inference"} | json | message="inference_response" '
                  '| unwrap ttft_ms [5m]))')
    assert values(res) == {(("model_name", "m2"),): 20.0}
    with pytest.raises(LogQLError, match="SampleExtractionErr"):
        q(logs, 'sum(sum_over_time({job="inference"} | json | unwrap model_name [5m]))')
    res = q(logs, 'sum(sum_over_time({job="inference"} | json | unwrap model_name | __error__="" [5m]))')
    assert values(res) == {}


def test_a_json_error_fails_a_metric_query_unless_filtered(logs: Path) -> None:
    with pytest.raises(LogQLError, match="JSONParserErr"):
        q(logs, 'sum(count_over_time({job="vllm"} | json [5m]))')
    assert values(q(logs, 'sum(count_over_time({job="vllm"} | json | __error__="" [5m]))')) == {}
    assert len(q(logs, '{job="vllm"} | json | __error__="JSONParserErr"').entries) == 2


def test_numeric_filter_on_a_non_number_marks_the_line_with_an_error(logs: Path) -> None:
    res = q(logs, '{job="inference"} | json | model_name > 1')
    assert {e.labels.get("__error__") for e in res.entries} == {"LabelFilterErr"}
    with pytest.raises(LogQLError, match="LabelFilterErr"):
        q(logs, 'sum(count_over_time({job="inference"} | json | model_name > 1 [5m]))')


def test_vector_aggregations_and_binary_operators(logs: Path) -> None:
    inner = 'count_over_time({job="inference"} | json | message="inference_response" [5m])'
    assert values(q(logs, f"sum by (model_name) ({inner})")) == {(("model_name", "m1"),): 2.0,
                                                                (("model_name", "m2"),): 1.0}
    assert values(q(logs, f"count by (model_name) ({inner})"))[(("model_name", "m1"),)] == 2.0
    without = q(logs, f"max without (request_id, filename, host, timestamp, latency_ms, ttft_ms) ({inner})")
    assert values(without) == {tuple(sorted({"job": "inference", "service": "mlops", "level": "INFO",
                                             "level_extracted": "INFO", "log_type": "inference", "logger": "svc",
                                             "message": "inference_response", "model_name": m,
                                             "tokens_generated": "10"}.items())): 1.0 for m in ("m1", "m2")}
    assert values(q(logs, f"sum by (model_name) ({inner}) > 1")) == {(("model_name", "m1"),): 2.0}
    assert values(q(logs, f"sum by (model_name) ({inner}) > bool 1")) == {(("model_name", "m1"),): 1.0,
                                                                          (("model_name", "m2"),): 0.0}
    ratio = ('sum(count_over_time({job="api"} | json | status_code >= 500 [5m])) / '
             'sum(count_over_time({job="api"} | json [5m])) * 100')
    assert values(q(logs, ratio)) == {(): pytest.approx(100 / 3)}
    assert values(q(logs, f"avg(sum by (model_name) ({inner}))")) == {(): 1.5}
    assert values(q(logs, f"min(sum by (model_name) ({inner})) - 2 ^ 2")) == {(): -3.0}


def test_windows_are_left_open_and_range_queries_step(logs: Path) -> None:
    query = 'sum(count_over_time({job="api"} [1s]))'
    assert values(q(logs, query, end_ms=T0 + 2000)) == {(): 1.0}  # (T0+1000, T0+2000]: only the line at +2000
    res = q(logs, query, end_ms=T0 + 4000, since_ms=4000, step_ms=1000)
    assert res.series[0].points == [(T0 + 1000, 1.0), (T0 + 2000, 1.0), (T0 + 3000, 1.0)]
    res = q(logs, 'sum(count_over_time({job="api"} [2s]))', end_ms=T0 + 4000, since_ms=4000, step_ms=1000)
    assert res.series[0].points == [(T0 + 1000, 1.0), (T0 + 2000, 2.0), (T0 + 3000, 2.0), (T0 + 4000, 1.0)]
    assert not res.instant and res.start_ms == T0 and res.end_ms == T0 + 4000


def test_log_queries_keep_the_newest_lines_oldest_first(logs: Path) -> None:
    res = q(logs, '{job="inference"}', limit=2)
    assert [e.ts_ms for e in res.entries] == [T0 + 4000, T0 + 5000] and res.truncated
    assert [e.ts_ms for e in q(logs, '{job="inference"}', end_ms=T0 + 3000, since_ms=1500).entries] == [T0 + 2000,
                                                                                                        T0 + 3000]


def test_too_many_series_is_an_error_like_lokis_max_query_series(tmp_path: Path) -> None:
    write(tmp_path, "inference", [resp(T0 + i, 1.0, rid=f"r{i}") for i in range(20)])
    query = 'avg_over_time({job="inference"} | json | unwrap latency_ms [5m])'
    with pytest.raises(LogQLError, match=r"maximum number of series \(10\)"):
        evaluate(query, tmp_path, end_ms=END, max_series=10)
    assert len(evaluate(query + " by (model_name)", tmp_path, end_ms=END, max_series=10).series) == 1


def test_files_outside_the_window_are_skipped_but_their_lines_would_not_count_anyway(tmp_path: Path) -> None:
    write(tmp_path, "api", [{"ts": T0 - 3_600_000, "message": "api_response", "status_code": 200,
                             "duration_ms": 1.0, "request_id": "old"}], name="old")
    write(tmp_path, "api", [{"ts": T0 + 10, "message": "api_response", "status_code": 200, "duration_ms": 1.0,
                             "request_id": "new"}], name="new")
    res = evaluate('{job="api"} | json', tmp_path, end_ms=END, since_ms=120_000)
    assert [e.labels["request_id"] for e in res.entries] == ["new"]
    res = evaluate('{job="api"} | json', tmp_path, end_ms=END, since_ms=7_200_000)
    assert [e.labels["request_id"] for e in res.entries] == ["old", "new"]


def test_quantile_interpolates_like_prometheus() -> None:
    assert quantile(0.5, [1.0, 2.0, 3.0, 4.0]) == 2.5
    assert quantile(0.95, [float(i) for i in range(1, 101)]) == pytest.approx(95.05)
    assert quantile(0.0, [3.0, 1.0]) == 1.0 and quantile(1.0, [3.0, 1.0]) == 3.0


def test_the_fused_path_gives_the_same_answers_as_the_staged_pipeline(tmp_path: Path) -> None:
    rng = random.Random(7)
    events = []
    for i in range(400):
        e = resp(T0 + i * 500, round(rng.uniform(1, 500), 2), rng.choice(["m1", "m2", "m3"]), f"r{i}")
        if i % 7 == 0:
            e["ttft_ms"] = "n/a" if i % 21 == 0 else round(rng.uniform(1, 50), 1)
        if i % 11 == 0:
            e["model"] = {"name": "nested"}
        events.append(e)
    events.append({"ts": T0 + 10, "message": "inference_request", "request_id": "x", "model_name": "m1"})
    write(tmp_path, "inference", events)
    (tmp_path / "inference" / "svc_torn.log").write_text('{"not json\n')
    queries = []
    for fn in ("avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "first_over_time",
               "last_over_time", "rate", "quantile_over_time(0.9,"):
        head = fn + ("" if fn.endswith(",") else "(")
        for filt, by in ((' | latency_ms > 100', "model_name"), ("", "model_name, job"), (" | tokens_generated == 10",
                                                                                       "model_name"),
                         (' | ttft_ms < 40', "model_name"), ("", "model_name, model_name_extracted")):
            queries.append(f'{head}{{job="inference"}} |= "inference_response" | json | message="inference_response"'
                           f'{filt} | unwrap latency_ms [30s]) by ({by})')
    files = discover(tmp_path)
    for window in (Window(END, END, 1), Window(T0, T0 + 200_000, 15_000)):
        for query in queries:
            expr = parse(query)
            try:
                fused = Evaluator(files, window, fused=True).eval(expr)
            except LogQLError as exc:
                with pytest.raises(LogQLError, match=str(exc).split("'")[1]):
                    Evaluator(files, window, fused=False).eval(expr)
                continue
            assert fused == Evaluator(files, window, fused=False).eval(expr), query


def test_memory_stays_bounded_when_a_query_would_make_a_series_per_line(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import logging_lib.logql.range_agg as range_agg

    monkeypatch.setattr(range_agg, "MAX_INNER_SERIES", 50)
    write(tmp_path, "inference", [resp(T0 + i, 1.0, rid=f"r{i}") for i in range(200)])
    with pytest.raises(LogQLError, match="more than 50 series"):
        evaluate('avg(avg_over_time({job="inference"} | json | unwrap latency_ms [5m]))', tmp_path, end_ms=END)
    res = evaluate('avg(avg_over_time({job="inference"} | json | unwrap latency_ms [5m]) by (model_name))', tmp_path,
                   end_ms=END)
    assert values(res) == {(): 1.0}
