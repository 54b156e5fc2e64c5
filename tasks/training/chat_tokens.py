"""Chat rows -> token ids with labels only on the assistant's tokens, and the batch collator.

The assistant spans are found by rendering the chat template up to each assistant turn (with
and without the generation prompt) and mapping character spans to tokens through the fast
tokenizer's offsets, so any template that renders a conversation prefix-stably works
(our tiny model's, Llama 3's, ...). Each span ends with the template's end-of-turn token, so
the model learns to stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.errors import TrainingError

IGNORE_INDEX = -100
_PAD_CANDIDATES = ("<pad>", "<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<unk>", "<|endoftext|>")


def ensure_pad_token(tokenizer: Any) -> None:
    """Give the tokenizer a pad token that is not eos (padding must never hide the stop token)."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return
    vocab = tokenizer.get_vocab()
    for cand in _PAD_CANDIDATES:
        if cand in vocab and vocab[cand] != tokenizer.eos_token_id:
            tokenizer.pad_token = cand
            return
    raise TrainingError("the tokenizer has no pad token distinct from eos and none of "
                        f"{', '.join(_PAD_CANDIDATES)} exists; use a tokenizer with a pad token")


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of every assistant answer."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not text.startswith(upto) or not upto.startswith(before):
            raise TrainingError("the chat template does not render conversations prefix-stably; "
                                "cannot tell which tokens are the assistant's")
        end = len(upto.rstrip())
        spans.append((len(before), end))
    return text, spans


def encode_chat(tokenizer: Any, messages: list[dict[str, str]], max_len: int) -> dict[str, list[int]] | None:
    """input_ids + labels (IGNORE_INDEX outside assistant spans); None if truncation leaves no label."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_len)
    labels = []
    for tok_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        inside = end > start and any(s <= start and end <= e for s, e in spans)
        labels.append(tok_id if inside else IGNORE_INDEX)
    if all(lab == IGNORE_INDEX for lab in labels):
        return None
    return {"input_ids": list(enc["input_ids"]), "labels": labels}


def encode_prompt(tokenizer: Any, prompt_messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_dataset(tokenizer: Any, path: Path, max_len: int) -> tuple[list[dict[str, list[int]]], int]:
    """The features of every row of a prepared JSONL split, and how many rows were dropped
    because no answer token fits within `max_len`."""
    from tasks.training.data import read_jsonl

    rows, _ = read_jsonl(path, "error")
    feats = [encode_chat(tokenizer, msgs, max_len) for msgs in rows]
    kept = [f for f in feats if f is not None]
    return kept, len(feats) - len(kept)


@dataclass
class ChatCollator:
    """Right-pads a batch with pad_token_id; padded positions get no attention and no loss."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}
