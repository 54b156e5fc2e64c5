"""Held-out evaluation: eval loss / perplexity on the answers, and every generated answer scored
(`score_item`: exact match, and JSON validity / field accuracy for JSON references).

`EvalResult` keeps the summary and one `EvalItem` per scored row; `item_rows` lays the base's
and the fine-tuned model's items side by side (what `<run_dir>/eval_items.jsonl` holds), keyed
by an `item_id` that names the same eval row in every run, so two models compare item by item.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.training import EvalConfig
from tasks.training.chat_tokens import ChatCollator, encode_chat, encode_prompt
from tasks.training.eval_metrics import METRICS, EvalExample, item_id, score_items, summarize

JSON_METRICS = ("json_valid", "field_accuracy")  # present only when the references are JSON records


@dataclass(frozen=True)
class EvalItem:
    """One scored eval row."""

    item_id: str
    prompt_messages: tuple[dict[str, str], ...]
    reference: str
    prediction: str
    scores: dict[str, Any]  # score_item's: exact_match, json_valid, field_accuracy (None for a text reference)


@dataclass(frozen=True)
class EvalResult:
    eval_loss: float
    perplexity: float
    exact_match: float
    n_examples: int
    json_valid: float | None = None
    field_accuracy: float | None = None
    items: tuple[EvalItem, ...] = ()

    def metrics(self, prefix: str) -> dict[str, float]:
        """The summary as MLflow metrics (`base_exact_match`, `final_field_accuracy`, ...)."""
        out = {f"{prefix}eval_loss": self.eval_loss, f"{prefix}perplexity": self.perplexity,
               f"{prefix}exact_match": self.exact_match}
        out.update({f"{prefix}{name}": getattr(self, name) for name in JSON_METRICS if getattr(self, name) is not None})
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary for `train_result.json`; the items go to their own file."""
        return {"n_examples": self.n_examples, **self.metrics("")}


def eval_loss(model: Any, tokenizer: Any, examples: list[EvalExample], batch_size: int, max_len: int) -> float:
    """Mean cross-entropy per answer token (the same tokens training is scored on)."""
    import torch

    feats = [encode_chat(tokenizer, [*e.prompt_messages, {"role": "assistant", "content": e.reference}], max_len)
             for e in examples]
    feats = [f for f in feats if f is not None]
    collate = ChatCollator(tokenizer.pad_token_id)
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(feats), batch_size):
            batch = collate(feats[i: i + batch_size])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            shift_logits, shift_labels = logits[:, :-1], batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                                                     shift_labels.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(loss)
            count += int((shift_labels != -100).sum())
    return total / max(count, 1)


def generate_answers(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], batch_size: int,
                     max_new_tokens: int) -> list[str]:
    """Greedy answers, left-padded batches, stopping at eos."""
    import torch

    out: list[str] = []
    model.eval()
    for i in range(0, len(prompts), batch_size):
        encoded = [encode_prompt(tokenizer, p) for p in prompts[i: i + batch_size]]
        width = max(map(len, encoded))
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(e)) + e for e in encoded], device=model.device)
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=model.device)
        with torch.no_grad():
            # use_cache: training switched the model config's cache off; without it every new token
            # re-reads the whole sequence
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 use_cache=True, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
        out.extend(tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True))
    return out


def evaluate(model: Any, tokenizer: Any, examples: list[EvalExample], cfg: EvalConfig, max_len: int) -> EvalResult:
    loss = eval_loss(model, tokenizer, examples, cfg.batch_size, max_len)
    chosen = examples[: cfg.max_examples] if cfg.max_examples else examples
    preds = generate_answers(model, tokenizer, [e.prompt_messages for e in chosen], cfg.batch_size, cfg.max_new_tokens)
    return scored_result(chosen, preds, eval_loss=loss)


def scored_result(examples: list[EvalExample], predictions: list[str], *, eval_loss: float) -> EvalResult:
    """Each prediction scored against its example (the i-th example is row i of eval.jsonl), summarized."""
    scores = score_items(predictions, [e.reference for e in examples])
    items = tuple(EvalItem(item_id=item_id(i, e.prompt_messages), prompt_messages=tuple(e.prompt_messages),
                           reference=e.reference, prediction=p, scores=s)
                  for i, (e, p, s) in enumerate(zip(examples, predictions, scores)))
    summary = summarize(scores)
    return EvalResult(eval_loss=eval_loss, perplexity=math.exp(min(eval_loss, 50.0)),
                      exact_match=summary["exact_match"], n_examples=len(items),
                      json_valid=summary.get("json_valid"), field_accuracy=summary.get("field_accuracy"), items=items)


def item_rows(before: EvalResult | None, after: EvalResult) -> list[dict[str, Any]]:
    """One row per eval item: prompt, reference, then the base's (`base_*`, absent without a base
    evaluation) and the fine-tuned model's (`final_*`) prediction and scores side by side."""
    if before is not None and [i.item_id for i in before.items] != [i.item_id for i in after.items]:
        raise ValueError("the base and the fine-tuned model were scored on different eval items")
    rows = []
    for n, item in enumerate(after.items):
        row: dict[str, Any] = {"item_id": item.item_id, "prompt_messages": list(item.prompt_messages),
                               "reference": item.reference}
        for prefix, side in (("base_", before.items[n] if before else None), ("final_", item)):
            if side is not None:
                row[f"{prefix}prediction"] = side.prediction
                row.update({f"{prefix}{name}": side.scores.get(name) for name in METRICS})
        rows.append(row)
    return rows


def write_item_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` as JSON lines (written whole, then renamed into place)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path
