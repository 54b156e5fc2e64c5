"""Dataset rows, the train/eval split and the shared exact-match metric."""

from __future__ import annotations

import json

import pytest

from configs.data import DataConfig, GeneratedDataConfig
from configs.errors import DataError
from tasks.training.data import prepare_data, prompt_key, read_jsonl, split_rows
from tasks.training.eval_metrics import load_eval_examples, normalize, score
from tasks.training.synthetic.capitals import generate_capitals


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD_CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
GOOD_INSTR = json.dumps({"instruction": "Add", "input": "2+2", "output": "4"})


def test_chat_and_instruction_rows_become_messages(tmp_path):
    rows, skipped = read_jsonl(_write(tmp_path / "d.jsonl", [GOOD_CHAT, "", GOOD_INSTR]))
    assert skipped == []
    assert rows[1] == [{"role": "user", "content": "Add\n\n2+2"}, {"role": "assistant", "content": "4"}]


def test_bad_rows_raise_with_their_line_numbers_and_reasons(tmp_path):
    path = _write(tmp_path / "d.jsonl", [
        GOOD_CHAT,
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
        json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"prompt": "x", "completion": "y"}),
        GOOD_INSTR,
    ])
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    text = str(err.value)
    assert "4 bad rows" in text and "data.on_bad_row: skip" in text
    assert "line 2: not valid JSON" in text
    assert "line 3: the last message must be the assistant's answer" in text
    assert "line 4: messages[0].role is 'robot'" in text
    assert "line 5: expected 'messages' (chat) or 'instruction' + 'output' keys" in text


def test_skip_mode_drops_and_counts_bad_rows(tmp_path):
    chats = [GOOD_CHAT.replace('"hi"', f'"hi {i}"') for i in range(9)]
    src = _write(tmp_path / "d.jsonl", chats + ["[]", GOOD_INSTR])
    prepared = prepare_data(DataConfig(path=src, on_bad_row="skip", eval_fraction=0.2), tmp_path / "ds")
    assert prepared.n_skipped == 1
    assert prepared.n_train + prepared.n_eval == 10 and prepared.n_eval == 2


def _with_bad_utf8(tmp_path):
    """A real generated dataset with one line whose bytes are not UTF-8 (a Latin-1 'é' on line 3)."""
    lines = [json.dumps(r, ensure_ascii=False).encode() for part in generate_capitals(GeneratedDataConfig(num_examples=20), 0.2) for r in part]
    lines[2] = json.dumps({"instruction": "Caf\u00e9?", "output": "yes"}, ensure_ascii=False).encode("latin-1")
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_line_that_is_not_utf8_is_a_bad_row_named_by_file_and_line(tmp_path):
    path = _with_bad_utf8(tmp_path)
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert str(path) in str(err.value) and "1 bad row" in str(err.value)
    assert "line 3: not valid UTF-8 (byte 0xe9 at byte 21)" in str(err.value)

    rows, skipped = read_jsonl(path, "skip")
    assert len(rows) == 19 and [n for n, _ in skipped] == [3]
    prepared = prepare_data(DataConfig(path=path, on_bad_row="skip"), tmp_path / "ds")
    assert prepared.n_skipped == 1 and prepared.n_train + prepared.n_eval == 19


def test_a_byte_order_mark_and_absurd_nesting_are_handled(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_CHAT.encode() + b"\n" + b"[" * 100_000 + b"\n" + GOOD_INSTR.encode() + b"\n")
    rows, skipped = read_jsonl(path, "skip")
    assert len(rows) == 2 and skipped == [(2, "JSON nested too deeply")]


def test_a_file_of_only_bad_rows_is_an_error_even_when_skipping(tmp_path):
    with pytest.raises(DataError, match="no usable rows"):
        read_jsonl(_write(tmp_path / "d.jsonl", ["[]"]), "skip")


def test_generated_split_is_deterministic_and_held_out(tmp_path):
    cfg = DataConfig(generate=GeneratedDataConfig(num_examples=100, seed=3), eval_fraction=0.2)
    a = prepare_data(cfg, tmp_path / "a")
    b = prepare_data(cfg, tmp_path / "b")
    assert a.sha256 == b.sha256 and (a.n_train, a.n_eval) == (80, 20)
    train, held = read_jsonl(a.train_path)[0], read_jsonl(a.eval_path)[0]
    assert not {prompt_key(m) for m in train} & {prompt_key(m) for m in held}
    assert a.n_prompt_overlap == 0
    assert generate_capitals(GeneratedDataConfig(num_examples=20, seed=1), 0.2) != generate_capitals(
        GeneratedDataConfig(num_examples=20, seed=2), 0.2)


def test_capitals_holds_out_templates():
    from tasks.training.synthetic.capitals import CAPITALS, EVAL_TEMPLATES, TRAIN_TEMPLATES

    assert not set(TRAIN_TEMPLATES) & set(EVAL_TEMPLATES)
    train, held = generate_capitals(GeneratedDataConfig(num_examples=400), 0.15)
    eval_phrasings = {t.format(c=c) for t in EVAL_TEMPLATES for c in CAPITALS}
    train_users = {r["messages"][-2]["content"] for r in train}
    held_users = [r["messages"][-2]["content"] for r in held]
    assert len(held) == 60 and not train_users & eval_phrasings
    assert set(held_users) <= eval_phrasings and len(set(held_users)) == len(held_users)


def test_random_split_keeps_one_prompt_on_one_side():
    """The old split put the same question (other system prompt) on both sides."""
    def row(user, system=None):
        return ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": "a"}]

    rows = [row(f"Question {i % 10}", system=s) for i in range(40) for s in (None, "Be brief.")][:60]
    for seed in range(5):
        train, held = split_rows(rows, 0.25, seed)
        assert held and train
        assert not {prompt_key(m) for m in train} & {prompt_key(m) for m in held}


def test_given_eval_file_drops_rows_training_has(tmp_path):
    train = _write(tmp_path / "t.jsonl", [GOOD_CHAT, GOOD_INSTR])
    other = json.dumps({"messages": [{"role": "user", "content": "new one"}, {"role": "assistant", "content": "x"}]})
    same = json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": " HI "},
                                    {"role": "assistant", "content": "y"}]})
    held = _write(tmp_path / "e.jsonl", [same, other])
    out = prepare_data(DataConfig(path=train, eval_path=held), tmp_path / "d")
    assert (out.n_eval, out.n_overlap_dropped, out.n_prompt_overlap) == (1, 1, 0)


def test_eval_examples_and_score_use_one_normalisation(tmp_path):
    ex = load_eval_examples(_write(tmp_path / "e.jsonl", [GOOD_CHAT, GOOD_INSTR]))
    assert ex[0].prompt_messages == [{"role": "user", "content": "hi"}] and ex[0].reference == "hello"
    assert normalize("  Buenos   Aires. ") == "buenos aires"
    assert score(["Hello!", "5"], ["hello", "4"]) == 0.5
    with pytest.raises(ValueError, match="pair up"):
        score(["a"], ["a", "b"])


def test_json_references_are_scored_as_records():
    from tasks.training.eval_metrics import score_item, score_items, summarize

    ref = '{"customer": "Ana Ruiz", "quantity": 3, "total": 12.5}'
    assert score_item('```json\n{"quantity": 3.0, "customer": "ana ruiz", "total": 12.50}\n```', ref) == {
        "exact_match": True, "json_valid": True, "field_accuracy": 1.0}
    partial = score_item('{"customer": "Ana Ruiz", "quantity": 4, "total": 12.5, "note": "x"}', ref)
    assert partial["exact_match"] is False and partial["field_accuracy"] == 2 / 3
    assert score_item("Sure! The customer is Ana.", ref) == {"exact_match": False, "json_valid": False,
                                                             "field_accuracy": 0.0}
    assert score_item('{"customer": "Ana Ruiz", "quantity": 3}', ref)["exact_match"] is False
    items = score_items(["Paris", '{"customer": "Ana Ruiz", "quantity": 3, "total": 12.5}'], ["paris", ref])
    assert summarize(items) == {"exact_match": 1.0, "json_valid": 1.0, "field_accuracy": 1.0}
    assert summarize(score_items(["Paris"], ["Rome"])) == {"exact_match": 0.0}
