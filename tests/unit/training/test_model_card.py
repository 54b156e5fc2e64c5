"""The model card says what a registered version is: base (and the GGUF file it came from),
data and its hash, the held-out set and its overlap, base vs fine-tuned metrics with the run's
own numbers, training settings, intended use and limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from configs.loader import load_config
from tasks.training.data import prepare_data
from tasks.training.eval_metrics import load_eval_examples
from tasks.training.evaluation import scored_result
from tasks.training.model_card import base_provenance, card_facts, render_model_card

TINY = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"
SHA = "ab" * 32


def _front_matter(card: str) -> dict:
    head, sep, _ = card.removeprefix("---\n").partition("\n---\n")
    assert card.startswith("---\n") and sep
    return yaml.safe_load(head)


def _run(tmp_path: Path, *overrides: str):
    """A config, its prepared data, and base / fine-tuned results on JSON references."""
    src = tmp_path / "tickets.jsonl"
    rows = [{"instruction": f"Extract the ticket: {who} reports the {what} is down since {h}:00.",
             "output": json.dumps({"reporter": who, "system": what, "since_hour": h})}
            for who, what, h in [("Ana", "VPN", 9), ("Bo", "mail", 10), ("Cy", "wiki", 11), ("Di", "CRM", 12),
                                 ("Ed", "printer", 13), ("Flo", "badge reader", 14)]]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(TINY, [f"paths.data_dir={tmp_path}", "data.generate=null", f"data.path={src}",
                             "data.name=tickets", "data.eval_fraction=0.5", *overrides])
    data = prepare_data(cfg.data, cfg.paths.datasets_dir)
    examples = load_eval_examples(data.eval_path)
    before = scored_result(examples, ["The VPN is down."] * len(examples), eval_loss=2.31)
    after = scored_result(examples, [examples[0].reference] + ['{"reporter": "x"}'] * (len(examples) - 1),
                          eval_loss=0.123456)
    return cfg, data, before, after


def test_card_states_base_data_metrics_settings_and_limits(tmp_path):
    base = tmp_path / "smollm2"
    base.mkdir()
    (base / "conversion.json").write_text(json.dumps({"source_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
                                                      "source_sha256": SHA, "license": "apache-2.0"}))
    cfg, data, before, after = _run(tmp_path)
    card = render_model_card(card_facts(cfg, data=data, base_ref=str(base), before=before, after=after, steps=100))
    meta = _front_matter(card)
    assert (meta["base_model"], meta["license"], meta["library_name"]) == (str(base), "apache-2.0", "peft")
    assert {"lora", "qlora", "tickets"} <= set(meta["tags"])
    shown = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert shown == {"exact_match": after.exact_match, "json_valid": after.json_valid,
                     "field_accuracy": after.field_accuracy, "eval_loss": 0.123456}
    assert "| model | exact_match | json_valid | field_accuracy | eval_loss |" in card
    assert (f"| base | {before.exact_match:.4f} | {before.json_valid:.4f} | {before.field_accuracy:.4f} | "
            "2.3100 |") in card
    assert f"| fine-tuned | {after.exact_match:.4f} | {after.json_valid:.4f} | " in card
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in card and SHA in card and data.sha256 in card
    assert f"{data.n_train} training rows, {data.n_eval} held-out rows" in card
    assert "held-out prompts also in training: 0" in card and "held out by prompt (seed 0)" in card
    assert "steps: 100, learning rate: 0.003, batch: 16 per device x 1 accumulation" in card
    assert "LoRA r=8, alpha=16, targets: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj" in card
    assert "quantization: nf4 (double quant), compute bfloat16" in card
    assert "from `tickets.jsonl`" in card and "English only" in card and "human reviewing" in card


def test_card_without_a_base_evaluation_or_quantization_or_provenance(tmp_path):
    cfg, data, _, after = _run(tmp_path, "model.quantization.enabled=false", "lora.target_modules=all-linear",
                               "eval.require_improvement=false", "eval.before_training=false")
    card = render_model_card(card_facts(cfg, data=data, base_ref="HuggingFaceTB/SmolLM2-135M-Instruct",
                                        before=None, after=after, steps=7))
    meta = _front_matter(card)
    assert "license" not in meta and "qlora" not in meta["tags"] and "| base |" not in card
    assert "| fine-tuned |" in card and "quantization: none" in card and "targets: all-linear" in card
    assert "license: unknown" in card and "converted from" not in card


def test_text_references_show_only_their_metrics(tmp_path):
    cfg = load_config(TINY, [f"paths.data_dir={tmp_path}", "data.generate.num_examples=40"])
    data = prepare_data(cfg.data, cfg.paths.datasets_dir)
    examples = load_eval_examples(data.eval_path)
    result = scored_result(examples, [e.reference for e in examples], eval_loss=0.5)
    card = render_model_card(card_facts(cfg, data=data, base_ref=str(tmp_path), before=result, after=result,
                                        steps=1))
    assert "| model | exact_match | eval_loss |" in card and "| base | 1.0000 | 0.5000 |" in card
    assert "synthetic data this pipeline generates" in card and "json_valid" not in card and "field_acc" not in card


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]", json.dumps({"converter_version": "1"})])
def test_a_base_without_a_readable_conversion_manifest_has_no_provenance(tmp_path, content):
    if content is not None:
        (tmp_path / "conversion.json").write_text(content)
    assert base_provenance(str(tmp_path)) == {}
    assert base_provenance("HuggingFaceTB/SmolLM2-135M-Instruct") == {}
