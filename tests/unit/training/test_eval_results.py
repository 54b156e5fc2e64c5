"""Evaluation keeps every item: the summary (JSON metrics only for JSON references), one scored
item per eval row with an id that names the same row in any run, and the side-by-side rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from configs.loader import load_config
from tasks.training.data import prepare_data
from tasks.training.eval_metrics import item_id, load_eval_examples
from tasks.training.evaluation import item_rows, scored_result, write_item_rows

TINY = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"
CUSTOMERS = ["Ana Ruiz", "Bo Chen", "Cleo Park", "Dev Rao", "Eli Moss", "Fay Lund", "Gus Hart", "Ida Vos"]


def _order_split(tmp_path: Path):
    """An order-extraction dataset (JSON answers) prepared the way training prepares a user's file."""
    src = tmp_path / "orders.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Extract the order: {c} wants {i + 1} lamps at {9.5 + i} each."},
                          {"role": "assistant", "content": json.dumps({"customer": c, "quantity": i + 1,
                                                                       "unit_price": 9.5 + i})}]}
            for i, c in enumerate(CUSTOMERS)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(TINY, [f"paths.data_dir={tmp_path}", "data.generate=null", f"data.path={src}",
                             "data.name=orders", "data.eval_fraction=0.4", "data.max_eval_examples=null"])
    return load_eval_examples(prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path)


def test_json_references_give_json_metrics_and_every_items_scores(tmp_path):
    examples = _order_split(tmp_path)
    assert len(examples) == 3
    right = examples[0].reference
    partial = json.dumps({**json.loads(examples[1].reference), "quantity": 99})
    result = scored_result(examples, [f"```json\n{right}\n```", partial, "The customer wants lamps."], eval_loss=0.5)
    assert [i.scores for i in result.items] == [
        {"exact_match": True, "json_valid": True, "field_accuracy": 1.0},
        {"exact_match": False, "json_valid": True, "field_accuracy": pytest.approx(2 / 3)},
        {"exact_match": False, "json_valid": False, "field_accuracy": 0.0}]
    assert result.metrics("final_") == {
        "final_eval_loss": 0.5, "final_perplexity": pytest.approx(1.6487, abs=1e-4),
        "final_exact_match": pytest.approx(1 / 3), "final_json_valid": pytest.approx(2 / 3),
        "final_field_accuracy": pytest.approx(5 / 9)}
    assert [i.prediction for i in result.items][1] == partial
    assert [i.reference for i in result.items] == [e.reference for e in examples]
    assert result.items[2].prompt_messages == tuple(examples[2].prompt_messages)


def test_text_references_have_exact_match_only_and_the_summary_file_has_no_items(tmp_path):
    cfg = load_config(TINY, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=40"])
    examples = load_eval_examples(prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path)[:4]
    preds = [examples[0].reference.upper(), "no idea", examples[2].reference, "?"]
    result = scored_result(examples, preds, eval_loss=1.0)
    assert set(result.metrics("base_")) == {"base_eval_loss", "base_perplexity", "base_exact_match"}
    assert result.exact_match == 0.5 and result.json_valid is None and result.field_accuracy is None
    assert result.to_dict() == {"n_examples": 4, "eval_loss": 1.0, "perplexity": pytest.approx(2.71828, abs=1e-5),
                                "exact_match": 0.5}


def test_item_ids_name_the_same_row_in_any_run_and_for_any_model(tmp_path):
    examples = _order_split(tmp_path)
    a = scored_result(examples, ["x"] * 3, eval_loss=1.0)
    b = scored_result(examples, [e.reference for e in examples], eval_loss=0.1)
    ids = [i.item_id for i in a.items]
    assert ids == [i.item_id for i in b.items] and len(set(ids)) == 3
    assert [i.split("-")[0] for i in ids] == ["0", "1", "2"]
    code = ("import json, sys; from tasks.training.eval_metrics import item_id; "
            "ms = json.load(sys.stdin); print(json.dumps([item_id(i, m) for i, m in enumerate(ms)]))")
    other = subprocess.run([sys.executable, "-c", code], input=json.dumps([e.prompt_messages for e in examples]),
                           capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[3],
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert json.loads(other.stdout) == ids
    edited = [{**m, "content": m["content"] + " Thanks."} for m in examples[0].prompt_messages]
    assert item_id(0, edited) != ids[0] and item_id(1, examples[0].prompt_messages) != ids[0]


def test_item_rows_put_base_and_fine_tuned_side_by_side(tmp_path):
    examples = _order_split(tmp_path)
    before = scored_result(examples, ["no"] * 3, eval_loss=2.0)
    after = scored_result(examples, [e.reference for e in examples], eval_loss=0.2)
    rows = item_rows(before, after)
    assert [r["item_id"] for r in rows] == [i.item_id for i in after.items]
    assert rows[0]["prompt_messages"] == examples[0].prompt_messages and rows[0]["reference"] == examples[0].reference
    assert (rows[0]["base_prediction"], rows[0]["base_exact_match"], rows[0]["base_json_valid"]) == ("no", False, False)
    assert (rows[0]["final_exact_match"], rows[0]["final_field_accuracy"]) == (True, 1.0)
    only_final = item_rows(None, after)
    assert not [k for r in only_final for k in r if k.startswith("base_")]
    assert only_final[1]["final_prediction"] == examples[1].reference
    path = write_item_rows(tmp_path / "eval_items.jsonl", rows)
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows
    with pytest.raises(ValueError, match="different eval items"):
        item_rows(scored_result(examples[:2], ["no"] * 2, eval_loss=2.0), after)


def test_train_result_json_keeps_the_summaries_not_the_items(tmp_path):
    from tasks.training.recipe import TrainResult

    examples = _order_split(tmp_path)
    after = scored_result(examples, [e.reference for e in examples], eval_loss=0.2)
    result = TrainResult(run_dir=tmp_path, adapter_dir=tmp_path / "adapter", global_step=3, resumed_from_step=None,
                         train_loss=0.4, loss_history=[(1, 0.5)], before=None, after=after, n_train_used=5)
    saved = json.loads(result.to_json())
    assert saved["after"] == {"n_examples": 3, "eval_loss": 0.2, "perplexity": pytest.approx(1.2214, abs=1e-4),
                              "exact_match": 1.0, "json_valid": 1.0, "field_accuracy": 1.0}
    assert saved["before"] is None
