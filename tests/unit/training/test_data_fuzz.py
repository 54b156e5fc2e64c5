"""Fuzzing dataset rows: any file ends in rows or a DataError naming the file and lines, never another exception.

Inputs: random bytes, random JSON values, row-shaped JSON with wrong types in every slot, and
real generated rows (the production writer's output) with bytes flipped; as JSONL lines, JSON
arrays and Parquet files (written by pandas, row kinds mixed and None anywhere; a real one with bytes
flipped). Derandomized,
bounded in time per example.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from configs.data import GeneratedDataConfig
from configs.errors import DataError
from tasks.training.data import normalize_row, read_rows
from tasks.training.synthetic.capitals import generate_capitals
from tests._fuzz import fuzz_settings, time_limit

FUZZ = fuzz_settings(200)
REAL_ROWS = [json.dumps(r, ensure_ascii=False).encode() for part in generate_capitals(GeneratedDataConfig(num_examples=20), 0.2) for r in part]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
anything = json_values | st.sampled_from(["", " ", "user", "assistant", "system"])
message = st.fixed_dictionaries({"role": anything, "content": anything}, optional={"extra": anything})
row_shaped = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(message | anything, max_size=4) | anything}),
    st.fixed_dictionaries({"instruction": anything, "output": anything}, optional={"input": anything,
                                                                                    "other": anything}),
    st.fixed_dictionaries({"conversations": st.lists(
        st.fixed_dictionaries({"from": anything, "value": anything}, optional={"extra": anything}) | anything,
        max_size=4) | anything}, optional={"id": anything, "messages": anything}),
    st.dictionaries(st.sampled_from(["messages", "instruction", "input", "output", "conversations", "prompt"]),
                    anything, max_size=4),
)


@st.composite
def flipped_real_line(draw: st.DrawFn) -> bytes:
    line = bytearray(draw(st.sampled_from(REAL_ROWS)))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(line) - 1))
        line[i] = draw(st.integers(0, 255))
    return bytes(line)


def _must_end_cleanly(tmp_path, lines: list[bytes], policy: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _rows_or_named_error(path, policy, len(lines))  # .jsonl: the line reader


@FUZZ
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=8), st.sampled_from(["error", "skip"]))
def test_random_bytes(tmp_path, lines, policy) -> None:
    _must_end_cleanly(tmp_path, [b.replace(b"\n", b" ") for b in lines], policy)


@FUZZ
@given(st.lists(json_values | row_shaped, min_size=1, max_size=8), st.sampled_from(["error", "skip"]))
def test_random_json_and_wrong_shapes(tmp_path, values, policy) -> None:
    _must_end_cleanly(tmp_path, [json.dumps(v).encode() for v in values] + REAL_ROWS[:1], policy)


@FUZZ
@given(st.lists(flipped_real_line(), min_size=1, max_size=5), st.sampled_from(["error", "skip"]))
def test_real_rows_with_bytes_flipped(tmp_path, lines, policy) -> None:
    _must_end_cleanly(tmp_path, [ln.replace(b"\n", b" ") for ln in lines] + REAL_ROWS[:2], policy)


@FUZZ
@given(json_values | row_shaped)
def test_normalize_row_returns_messages_or_says_why(value) -> None:
    try:
        msgs = normalize_row(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert msgs[-1]["role"] == "assistant" and all(isinstance(m["content"], str) for m in msgs)


def _rows_or_named_error(path, policy: str, n_rows: int) -> None:
    with time_limit():
        try:
            rows, bad = read_rows(path, policy)
        except DataError as exc:
            assert str(path) in str(exc)
            return
    assert rows and all(m and m[-1]["role"] == "assistant" for m in rows)
    assert all(1 <= n <= n_rows for n, _ in bad)


@FUZZ
@given(st.lists(json_values | row_shaped, min_size=1, max_size=8), st.sampled_from(["error", "skip"]))
def test_json_arrays_of_anything(tmp_path, values, policy) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(values + [json.loads(REAL_ROWS[0])]))
    _rows_or_named_error(path, policy, len(values) + 1)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([".json", ".parquet"]))
def test_random_bytes_as_json_or_parquet(tmp_path, blob, suffix) -> None:
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(blob)
    _rows_or_named_error(path, "skip", max(1, blob.count(b"\n") + 1, len(blob)))


# What a Parquet file can hold: one type per column, None anywhere (Arrow's "absent")
word = st.sampled_from(["", " ", "user", "assistant", "system", "human", "gpt", "bing"]) | st.text(
    st.characters(exclude_categories=["Cs"]), max_size=10)
maybe_word = st.none() | word
parquet_row = st.fixed_dictionaries({}, optional={
    "messages": st.none() | st.lists(st.fixed_dictionaries({"role": maybe_word, "content": maybe_word}), max_size=4),
    "conversations": st.none() | st.lists(st.fixed_dictionaries({"from": maybe_word, "value": maybe_word}), max_size=4),
    "instruction": maybe_word, "input": maybe_word, "output": maybe_word,
})


@fuzz_settings(60)
@given(st.lists(parquet_row, min_size=1, max_size=6), st.sampled_from(["error", "skip"]))
def test_parquet_files_of_mixed_row_kinds(tmp_path, values, policy) -> None:
    import pandas as pd

    path = tmp_path / "rows.parquet"
    pd.DataFrame(values + [json.loads(REAL_ROWS[0])]).to_parquet(path)
    _rows_or_named_error(path, policy, len(values) + 1)


@fuzz_settings(60)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_real_parquet_with_bytes_flipped(tmp_path, flips) -> None:
    import pandas as pd

    path = tmp_path / "rows.parquet"
    pd.DataFrame([json.loads(r) for r in REAL_ROWS]).to_parquet(path)
    blob = bytearray(path.read_bytes())
    for at, value in flips:
        blob[at % len(blob)] = value
    path.write_bytes(bytes(blob))
    _rows_or_named_error(path, "skip", len(REAL_ROWS))
