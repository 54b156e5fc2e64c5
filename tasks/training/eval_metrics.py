"""The task metrics shared by training evaluation and the served-model benchmark.

    examples = load_eval_examples(prepared.eval_path)
    predictions = [my_engine.chat(e.prompt_messages) for e in examples]
    items = score_items(predictions, [e.reference for e in examples])   # one dict per item
    summarize(items)   # {"exact_match": .., "json_valid": .., "field_accuracy": ..}
    item_id(i, examples[i].prompt_messages)   # "17-3fa2b9c1d0": the same row, the same id, any run
    score(predictions, references)   # exact match alone, in [0, 1]

A reference that is a JSON object is scored as a record: `exact_match` means the prediction
parses (a ```json fence allowed) to an object with the same keys and equal values (strings
compared after `normalize`, numbers by value); `json_valid` and `field_accuracy` (share of
the reference's fields the prediction got right) are kept per item. Any other reference is
compared as text after `normalize`, and the JSON fields are None.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.training.data import read_jsonl

_WS = re.compile(r"\s+")
_EDGE_PUNCT = string.punctuation + " "
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
METRICS = ("exact_match", "json_valid", "field_accuracy")


@dataclass(frozen=True)
class EvalExample:
    prompt_messages: list[dict[str, str]]  # everything before the final assistant message
    reference: str  # the final assistant message


def load_eval_examples(path: Path, limit: int | None = None) -> list[EvalExample]:
    """Held-out examples from a chat/instruction JSONL file (bad rows raise DataError)."""
    rows, _ = read_jsonl(Path(path), "error")
    examples = [EvalExample(prompt_messages=msgs[:-1], reference=msgs[-1]["content"]) for msgs in rows]
    return examples[:limit] if limit else examples


def normalize(text: str) -> str:
    """Case, surrounding punctuation/whitespace and inner runs of whitespace do not count."""
    return _WS.sub(" ", text).strip(_EDGE_PUNCT).lower()


def parse_record(text: str) -> dict[str, Any] | None:
    """The JSON object in `text` (a surrounding ```json fence allowed), else None."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _same_value(pred: Any, ref: Any) -> bool:
    if isinstance(ref, bool) or isinstance(pred, bool):
        return pred is ref
    if isinstance(ref, (int, float)) and isinstance(pred, (int, float)):
        return abs(float(pred) - float(ref)) <= 1e-9 * max(1.0, abs(float(ref)))
    if isinstance(ref, str) and isinstance(pred, str):
        return normalize(pred) == normalize(ref)
    return pred == ref


def score_item(prediction: str, reference: str) -> dict[str, Any]:
    """One item's scores: exact_match (bool), json_valid and field_accuracy (None for a text reference)."""
    ref = parse_record(reference)
    if ref is None:
        return {"exact_match": normalize(prediction) == normalize(reference), "json_valid": None,
                "field_accuracy": None}
    pred = parse_record(prediction)
    if pred is None:
        return {"exact_match": False, "json_valid": False, "field_accuracy": 0.0}
    right = sum(k in pred and _same_value(pred[k], v) for k, v in ref.items())
    return {"exact_match": right == len(ref) and set(pred) == set(ref), "json_valid": True,
            "field_accuracy": right / len(ref) if ref else float(not pred)}


def exact_match(prediction: str, reference: str) -> bool:
    return bool(score_item(prediction, reference)["exact_match"])


def score_items(predictions: list[str], references: list[str]) -> list[dict[str, Any]]:
    """`score_item` for each pair; the lists must pair up and not be empty."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references; they must pair up")
    if not references:
        raise ValueError("no references to score against")
    return [score_item(p, r) for p, r in zip(predictions, references)]


def summarize(items: list[dict[str, Any]]) -> dict[str, float]:
    """Each metric's mean over the items that have it (a metric no item has is left out)."""
    out: dict[str, float] = {}
    for name in METRICS:
        values = [float(i[name]) for i in items if i.get(name) is not None]
        if values:
            out[name] = sum(values) / len(values)
    return out


def score(predictions: list[str], references: list[str]) -> float:
    """Share of predictions that match their reference exactly (0.0 .. 1.0)."""
    return summarize(score_items(predictions, references))["exact_match"]


def item_id(index: int, prompt_messages: list[dict[str, str]]) -> str:
    """Names one eval row the same way in every run and for every model: its index in eval.jsonl
    and a short hash of its prompt (so a changed row at the same index gets a new id)."""
    blob = json.dumps(prompt_messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{index}-{hashlib.sha256(blob.encode('utf-8')).hexdigest()[:10]}"
