"""Data users bring: JSONL, JSON and Parquet files of chat, Alpaca and ShareGPT rows.

Files are written by the writers users have (json.dump / json.dumps lines; pandas, pyarrow and
`datasets` for Parquet) and read back through `read_rows` / `prepare_data`.
"""

from __future__ import annotations

import json
import socket
import tempfile

import pytest

from configs.data import DataConfig, GeneratedDataConfig
from configs.errors import DataError
from tasks.training.data import normalize_row, prepare_data, read_jsonl, read_rows
from tasks.training.synthetic.capitals import generate_capitals


def _chat(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in turns]


# kind -> rows of that kind, and the messages each must become
KINDS = {
    "chat": (
        [{"messages": _chat(("system", "Be terse."), ("user", "Order 7?"), ("assistant", "Shipped."))},
         {"messages": _chat(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye"), ("assistant", "Ciao"))}],
        [_chat(("system", "Be terse."), ("user", "Order 7?"), ("assistant", "Shipped.")),
         _chat(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye"), ("assistant", "Ciao"))],
    ),
    "alpaca": (
        [{"instruction": "Extract the total.", "input": "Invoice 12: 40 EUR", "output": "40"},
         {"instruction": "Say hi.", "input": "", "output": "hi"}],
        [_chat(("user", "Extract the total.\n\nInvoice 12: 40 EUR"), ("assistant", "40")),
         _chat(("user", "Say hi."), ("assistant", "hi"))],
    ),
    "sharegpt": (
        [{"conversations": [{"from": "system", "value": "You extract JSON."},
                            {"from": "human", "value": "Ticket: printer jam"},
                            {"from": "gpt", "value": '{"issue": "printer jam"}'}]},
         {"conversations": [{"from": "user", "value": "2+2?"}, {"from": "assistant", "value": "4"},
                            {"from": "human", "value": "and 3+3?"}, {"from": "gpt", "value": "6"}]}],
        [_chat(("system", "You extract JSON."), ("user", "Ticket: printer jam"), ("assistant", '{"issue": "printer jam"}')),
         _chat(("user", "2+2?"), ("assistant", "4"), ("user", "and 3+3?"), ("assistant", "6"))],
    ),
}
ALL_ROWS = [r for rows, _ in KINDS.values() for r in rows]
ALL_EXPECTED = [m for _, expected in KINDS.values() for m in expected]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _json(path, rows):
    with path.open("w") as fh:
        json.dump(rows, fh, indent=2)


def _pandas(path, rows):
    import pandas as pd

    pd.DataFrame(rows).to_parquet(path)


def _pyarrow(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # from_pylist takes its columns from the first row; a schema unified over all rows keeps every column
    schema = pa.unify_schemas([pa.Table.from_pylist([r]).schema for r in rows])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _datasets(path, rows):
    from datasets import Dataset

    Dataset.from_list(rows).to_parquet(str(path))


WRITERS = {"jsonl": (".jsonl", _jsonl), "json": (".json", _json), "parquet-pandas": (".parquet", _pandas),
           "parquet-pyarrow": (".parquet", _pyarrow), "parquet-datasets": (".parquet", _datasets)}


def _write(tmp_path, writer: str, rows, name="rows"):
    suffix, write = WRITERS[writer]
    path = tmp_path / f"{name}{suffix}"
    write(path, rows)
    return path


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_format_reads_every_row_kind(tmp_path, writer, kind):
    rows, expected = KINDS[kind]
    assert read_rows(_write(tmp_path, writer, rows)) == (expected, [])


@pytest.mark.parametrize("writer", ["jsonl", "json", "parquet-pandas", "parquet-pyarrow"])
def test_one_file_may_mix_row_kinds(tmp_path, writer):
    """In Parquet every row gets every column (None where absent): an Alpaca row next to a
    ShareGPT row must still read as Alpaca, and a message's None `name` field is absent."""
    rows = [*ALL_ROWS, {"messages": [{"role": "user", "content": "q", "name": "ann"}, {"role": "assistant", "content": "a"}]}]
    path = _write(tmp_path, writer, rows)
    if writer.startswith("parquet"):
        import pyarrow.parquet as pq

        written = pq.read_table(path).to_pylist()
        assert written[0]["conversations"] is None and written[2]["input"] is not None
        assert written[0]["messages"][0]["name"] is None  # the struct field Arrow filled in
    read, bad = read_rows(path, "skip")
    assert read == ALL_EXPECTED
    assert bad == [(len(rows), "messages[0] must be an object with exactly 'role' and 'content'")]


def test_alpaca_input_may_be_null_or_absent(tmp_path):
    rows = [{"instruction": "A", "input": None, "output": "1"}, {"instruction": "B", "output": "2"}]
    for writer in ("json", "parquet-pandas"):
        assert read_rows(_write(tmp_path, writer, rows))[0] == [_chat(("user", "A"), ("assistant", "1")),
                                                                _chat(("user", "B"), ("assistant", "2"))]


BAD_ROWS = [
    (KINDS["sharegpt"][0][0], None),
    ({"conversations": [{"from": "bing", "value": "x"}, {"from": "gpt", "value": "y"}]},
     "conversations[0].from is 'bing'; expected one of human, gpt, system (or user, assistant)"),
    ({"conversations": [{"from": "gpt", "value": "y"}, {"from": "human", "value": "x"}]},
     "the last turn (conversations[1]) must be the model's answer (from 'gpt' or 'assistant')"),
    ({"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": " "}]},
     "conversations[1].value must be a non-empty string"),
    ({"instruction": "x", "output": ""}, "'output' must be a non-empty string"),
    ({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},
     "messages[0].role is 'robot'; expected one of system, user, assistant"),
    (KINDS["alpaca"][0][0], None),
]


@pytest.mark.parametrize("writer", ["json", "parquet-pandas"])
def test_bad_rows_are_named_by_row_number(tmp_path, writer):
    path = _write(tmp_path, writer, [row for row, _ in BAD_ROWS])
    with pytest.raises(DataError) as err:
        read_rows(path)
    text = str(err.value)
    assert str(path) in text and "5 bad rows" in text and "data.on_bad_row: skip" in text
    for n, (_, why) in enumerate(BAD_ROWS, start=1):
        assert (f"  row {n}: {why}" in text) == (why is not None), (n, text)

    rows, bad = read_rows(path, "skip")
    assert rows == [KINDS["sharegpt"][1][0], KINDS["alpaca"][1][0]]
    assert bad == [(n, why) for n, (_, why) in enumerate(BAD_ROWS, start=1) if why]


def test_json_rows_that_are_not_objects_are_bad_rows(tmp_path):
    """`datasets`' JSON loader crashes the process (pyarrow SIGSEGV) on a `null` row; ours
    names it."""
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([None, 5, ["x"], KINDS["chat"][0][0]]))
    rows, bad = read_rows(path, "skip")
    assert rows == [KINDS["chat"][1][0]]
    assert bad == [(1, "expected a JSON object, got NoneType"), (2, "expected a JSON object, got int"),
                   (3, "expected a JSON object, got list")]


def test_prepare_data_counts_skipped_rows_of_a_parquet_file(tmp_path):
    good = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]} for i in range(10)]
    path = _write(tmp_path, "parquet-pandas", good[:5] + [BAD_ROWS[1][0]] + good[5:])
    prepared = prepare_data(DataConfig(path=path, on_bad_row="skip", eval_fraction=0.2), tmp_path / "ds")
    assert (prepared.n_skipped, prepared.n_train + prepared.n_eval, prepared.n_eval) == (1, 10, 2)


def test_json_lines_in_a_json_file_keep_line_numbers(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(ALL_ROWS[0]) + "\n{broken\n" + json.dumps(ALL_ROWS[2]) + "\n")
    with pytest.raises(DataError, match=r"line 2: not valid JSON"):
        read_rows(path)
    assert read_rows(path, "skip") == ([ALL_EXPECTED[0], ALL_EXPECTED[2]], [(2, "not valid JSON (Expecting property name enclosed in double quotes at column 2)")])
    path.write_text(json.dumps(ALL_ROWS[4]))  # one row on one line
    assert read_rows(path) == ([ALL_EXPECTED[4]], [])


@pytest.mark.parametrize("content, says", [
    (b'{"instruction": "x",\n "output": "y"}\n', "holds one JSON object, not rows"),
    (b'"just a string"', "holds one JSON str, not rows"),
    (b'[{"instruction": "x", "output": "y"},', "is not valid JSON (Expecting value at line 1 column 38)"),
    (b'[{"instruction": "caf\xe9", "output": "y"}]', "is not valid UTF-8 (byte 0xe9 at byte 22)"),
    (b"[" * 100_000, "JSON nested too deeply"),
    (b"[]", "no usable rows"),
])
def test_a_json_file_that_is_not_rows_says_what_to_fix(tmp_path, content, says):
    path = tmp_path / "rows.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_rows(path, "skip")
    assert str(path) in str(err.value) and says in str(err.value)


@pytest.mark.parametrize("name", ["rows.csv", "rows.txt", "rows", "rows.jsonl.gz"])
def test_unknown_suffix_names_the_accepted_ones(tmp_path, name):
    path = tmp_path / name
    _jsonl(path, ALL_ROWS)
    with pytest.raises(DataError, match=r"unknown file type .*; use a file ending in \.jsonl, \.json, \.parquet"):
        read_rows(path)
    with pytest.raises(DataError, match="unknown file type"):
        prepare_data(DataConfig(path=path), tmp_path / "ds")


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    for name in ("gone.parquet", "gone.json", "gone.jsonl"):
        with pytest.raises(DataError, match=rf"dataset file .*{name} not found"):
            read_rows(tmp_path / name)
    (tmp_path / "shards.parquet").mkdir()
    with pytest.raises(DataError, match=r"shards.parquet is a folder; data.path and data.eval_path name one file"):
        read_rows(tmp_path / "shards.parquet")


def _corrupt_parquets(tmp_path):
    real = _write(tmp_path, "parquet-pandas", ALL_ROWS, name="real").read_bytes()
    yield "random bytes", bytes(range(256)) * 4
    yield "a JSON file named .parquet", json.dumps(ALL_ROWS).encode()
    yield "cut in half", real[: len(real) // 2]
    yield "footer length wrong", real[:-8] + (10**9).to_bytes(4, "little") + b"PAR1"
    yield "first page header overwritten", real[:4] + b"\xff" * 64 + real[68:]
    yield "empty", b""


def test_a_corrupt_parquet_file_is_a_data_error_naming_the_file(tmp_path):
    for what, blob in _corrupt_parquets(tmp_path):
        path = tmp_path / "broken.parquet"
        path.write_bytes(blob)
        with pytest.raises(DataError) as err:
            read_rows(path)
        text = str(err.value)
        assert f"{path} cannot be read as Parquet" in text and "pandas.DataFrame.to_parquet" in text, what


def test_a_parquet_file_without_rows_has_no_usable_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"instruction": pa.array([], pa.string()), "output": pa.array([], pa.string())}), path)
    with pytest.raises(DataError, match="no usable rows"):
        read_rows(path)


def test_reading_parquet_touches_neither_the_network_nor_the_users_cache(tmp_path, monkeypatch):
    import datasets

    path = _write(tmp_path, "parquet-datasets", KINDS["chat"][0])
    user_cache, scratch = tmp_path / "home-cache", tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", user_cache)
    monkeypatch.setattr(datasets.config, "HF_CACHE_HOME", str(user_cache))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def no_network(*args, **kwargs):
        raise AssertionError("reading a local file opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert read_rows(path)[0] == KINDS["chat"][1]
    assert not user_cache.exists()
    assert list(scratch.iterdir()) == []  # the datasets cache lived in a temporary folder, now gone


def test_sharegpt_turns_map_to_roles():
    row = {"id": "x1", "conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "H"},
                                         {"from": "gpt", "value": "G"}, {"from": "user", "value": "U"},
                                         {"from": "assistant", "value": "A"}]}
    assert normalize_row(row) == _chat(("system", "S"), ("user", "H"), ("assistant", "G"), ("user", "U"), ("assistant", "A"))


@pytest.mark.parametrize("conversations, says", [
    ([], "'conversations' must be a non-empty list of turns"),
    ("hi", "'conversations' must be a non-empty list of turns"),
    ([{"from": "human", "value": "x", "weight": 1}, {"from": "gpt", "value": "y"}],
     "conversations[0] must be an object with exactly 'from' and 'value'"),
    ([{"from": "human", "value": "x"}, "gpt: y"], "conversations[1] must be an object with exactly 'from' and 'value'"),
    ([{"from": None, "value": "x"}, {"from": "gpt", "value": "y"}], "conversations[0].from is None; expected one of"),
    ([{"from": "human", "value": 3}, {"from": "gpt", "value": "y"}], "conversations[0].value must be a non-empty string"),
    ([{"from": "system", "value": "s"}, {"from": "gpt", "value": "y"}],
     "there must be at least one turn from 'human' (or 'user')"),
])
def test_sharegpt_errors_name_the_turn_and_the_fix(conversations, says):
    with pytest.raises(ValueError) as err:
        normalize_row({"conversations": conversations})
    assert says in str(err.value)


def test_a_row_with_two_formats_is_rejected():
    row = {"conversations": KINDS["sharegpt"][0][0]["conversations"], "messages": KINDS["chat"][0][0]["messages"]}
    with pytest.raises(ValueError, match=r"has 'conversations' \(ShareGPT\) and 'messages' \(chat\); give each row one format"):
        normalize_row(row)


def test_an_eval_file_may_have_another_format(tmp_path):
    train = _write(tmp_path, "parquet-pandas", ALL_ROWS, name="train")
    held = _write(tmp_path, "json", [KINDS["chat"][0][0], {"instruction": "New question", "output": "x"}], name="held")
    out = prepare_data(DataConfig(path=train, eval_path=held), tmp_path / "ds")
    assert (out.n_train, out.n_eval, out.n_overlap_dropped, out.n_prompt_overlap) == (len(ALL_ROWS), 1, 1, 0)


def test_a_parquet_sharegpt_file_is_prepared_and_encoded_for_training(tmp_path):
    """The real path: Parquet ShareGPT file -> prepare_data -> train.jsonl -> the tiny model's
    tokenizer, with labels on the answers only."""
    from tasks.training.base_model import train_tokenizer
    from tasks.training.chat_tokens import IGNORE_INDEX, encode_dataset

    source = [r["messages"] for part in generate_capitals(GeneratedDataConfig(num_examples=40), 0.2) for r in part]
    as_from = {"system": "system", "user": "human", "assistant": "gpt"}
    sharegpt = [{"conversations": [{"from": as_from[m["role"]], "value": m["content"]} for m in msgs]} for msgs in source]
    path = _write(tmp_path, "parquet-pandas", sharegpt)

    prepared = prepare_data(DataConfig(name="sg", path=path, eval_fraction=0.2), tmp_path / "ds")
    train, _ = read_jsonl(prepared.train_path)
    held, _ = read_jsonl(prepared.eval_path)
    assert prepared.n_skipped == 0 and len(train) + len(held) == len(source)
    assert sorted(map(json.dumps, train + held)) == sorted(map(json.dumps, source))

    tokenizer = train_tokenizer([m["content"] for msgs in source for m in msgs], 400)
    feats, dropped = encode_dataset(tokenizer, prepared.train_path, 128)
    assert dropped == 0 and len(feats) == prepared.n_train
    for msgs, feat in zip(train, feats):
        answer = [t for t, lab in zip(feat["input_ids"], feat["labels"]) if lab != IGNORE_INDEX]
        assert tokenizer.decode(answer) == msgs[-1]["content"] + tokenizer.eos_token


def test_the_documented_example_rows_read_as_documented(tmp_path):
    """docs/training.md shows one example of each row kind; they must read, and mean the same."""
    from tests.conftest import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "training.md").read_text()
    section = doc[doc.index("\n## Data\n"):doc.index("\n## Config reference")]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "examples.jsonl"
    path.write_text(block)
    assert [next(iter(json.loads(line))) for line in block.splitlines()] == ["messages", "instruction", "conversations"]
    rows, bad = read_rows(path)
    assert bad == [] and rows[0] == rows[2]  # the chat and ShareGPT examples say the same
    assert rows[1] == [{"role": "user", "content": f"{rows[0][0]['content']}\n\n{rows[0][1]['content']}"}, rows[0][2]]


def test_alpaca_rows_with_extra_columns_are_read(tmp_path):
    """The well-known Alpaca files carry a pre-rendered `text` column beside the three keys."""
    import pandas as pd

    from tasks.training.data_files import read_rows

    path = tmp_path / "alpaca.parquet"
    pd.DataFrame([{"instruction": "Add", "input": "2+2", "output": "4", "text": "### Instruction: Add ..."}]).to_parquet(path)
    rows, bad = read_rows(path, "error")
    assert bad == [] and rows == [[{"role": "user", "content": "Add\n\n2+2"}, {"role": "assistant", "content": "4"}]]
