"""The task metric shared by training evaluation and the benchmark.

    examples = load_eval_examples(prepared.eval_path)
    predictions = [my_engine.chat(e.prompt_messages) for e in examples]
    score(predictions, [e.reference for e in examples])   # exact match in [0, 1]
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from tasks.training.data import read_jsonl

_WS = re.compile(r"\s+")
_EDGE_PUNCT = string.punctuation + " "


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


def exact_match(prediction: str, reference: str) -> bool:
    return normalize(prediction) == normalize(reference)


def score(predictions: list[str], references: list[str]) -> float:
    """Share of predictions equal to their reference after `normalize` (0.0 .. 1.0)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references; they must pair up")
    if not references:
        raise ValueError("no references to score against")
    return sum(exact_match(p, r) for p, r in zip(predictions, references)) / len(references)
