"""The one SSE splitter the gateway and the benchmark client share (tasks/http/sse.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.http.sse import SSESplitter, event_data, is_done

REPO = Path(__file__).resolve().parents[3]

# A vLLM-shaped stream: a comment, two token chunks, the usage chunk, [DONE].
CHUNKS = [{"choices": [{"index": 0, "delta": {"content": t}}]} for t in ("Hel", "lo")]
USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
STREAM = b"".join([b": keep-alive\n\n", *(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS),
                   b"data: " + orjson.dumps(USAGE) + b"\n\n", b"data: [DONE]\n\n"])


def split_all(pieces: list[bytes]) -> tuple[list[bytes], bytes]:
    s = SSESplitter()
    events = [e for p in pieces for e in s.feed(p)]
    return events, s.tail


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def test_events_of_a_vllm_stream() -> None:
    events, tail = split_all([STREAM])
    assert tail == b""
    assert events[0] == b": keep-alive" and event_data(events[0]) is None  # a comment has no data
    assert [orjson.loads(event_data(e)) for e in events[1:4]] == [*CHUNKS, USAGE]
    assert is_done(event_data(events[4])) and not any(is_done(event_data(e)) for e in events[:4])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20), st.booleans())
def test_chunk_boundaries_anywhere_give_the_same_events(points: list[int], crlf: bool) -> None:
    stream = STREAM.replace(b"\n", b"\r\n") if crlf else STREAM
    assert split_all(cut(stream, points)) == split_all([STREAM])


def test_crlf_cut_between_cr_and_lf_is_one_line_end() -> None:
    assert split_all([b"data: 1\r\n\r", b"\ndata: 2\r", b"\n\r\n"]) == ([b"data: 1", b"data: 2"], b"")


def test_bare_cr_line_ends() -> None:
    assert split_all([b"data: 1\r\rdata: 2\r\r"]) == ([b"data: 1", b"data: 2"], b"")


def test_multi_line_data_is_joined_with_lf() -> None:
    (event,), _ = split_all([b'event: message\ndata: {"a":\ndata:  1}\nid: 4\n\n'])
    assert event_data(event) == b'{"a":\n 1}'  # one leading space dropped per line, no more
    assert orjson.loads(event_data(event)) == {"a": 1}
    assert event_data(b"data\ndata: x") == b"\nx"  # a bare field name is an empty value


def test_comments_and_fields_without_data() -> None:
    assert event_data(b": ping") is None
    assert event_data(b"event: x\nid: 1\nretry: 10") is None
    assert event_data(b": note\ndata: [DONE]") == b"[DONE]"


def test_done_marker() -> None:
    assert is_done(b"[DONE]") and is_done(b" [DONE] ")
    assert not is_done(None) and not is_done(b"") and not is_done(b'{"x": "[DONE]"}')


def test_unterminated_last_event_is_the_tail() -> None:
    events, tail = split_all([b"data: 1\n\ndata: [DONE]"])
    assert events == [b"data: 1"] and tail == b"data: [DONE]"
    assert split_all([b"data: 1\r"])[1] == b"data: 1\n"  # its line ended; the event did not


def test_extra_blank_lines_are_empty_events() -> None:
    assert split_all([b"data: 1\n\n\n\ndata: 2\n\n"])[0] == [b"data: 1", b"", b"data: 2"]


def test_the_gateway_and_the_benchmark_client_share_this_splitter() -> None:
    """Declared once: nothing else under tasks/ splits an SSE stream on blank lines."""
    others = []
    for path in sorted((REPO / "tasks").rglob("*.py")):
        if path == REPO / "tasks" / "http" / "sse.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == b"\n\n":
                others.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert others == []
    for user in ("tasks/gateway", "tasks/benchmark/client.py"):
        files = [REPO / user] if user.endswith(".py") else sorted((REPO / user).rglob("*.py"))
        assert any("tasks.http.sse" in f.read_text() for f in files), user
