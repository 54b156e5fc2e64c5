"""Held-out evaluation: eval loss / perplexity on the answers, exact match on generated answers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from configs.training import EvalConfig
from tasks.training.chat_tokens import ChatCollator, encode_chat, encode_prompt
from tasks.training.eval_metrics import EvalExample, exact_match


@dataclass(frozen=True)
class EvalResult:
    eval_loss: float
    perplexity: float
    exact_match: float
    n_examples: int
    samples: tuple[tuple[str, str], ...] = ()  # a few (prediction, reference) pairs for the record

    def metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}eval_loss": self.eval_loss, f"{prefix}perplexity": self.perplexity,
                f"{prefix}exact_match": self.exact_match}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        out.extend(tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True))
    return out


def evaluate(model: Any, tokenizer: Any, examples: list[EvalExample], cfg: EvalConfig, max_len: int) -> EvalResult:
    loss = eval_loss(model, tokenizer, examples, cfg.batch_size, max_len)
    chosen = examples[: cfg.max_examples] if cfg.max_examples else examples
    preds = generate_answers(model, tokenizer, [e.prompt_messages for e in chosen], cfg.batch_size, cfg.max_new_tokens)
    em = sum(exact_match(p, e.reference) for p, e in zip(preds, chosen)) / max(len(chosen), 1)
    return EvalResult(eval_loss=loss, perplexity=math.exp(min(loss, 50.0)), exact_match=em, n_examples=len(chosen),
                      samples=tuple((p, e.reference) for p, e in list(zip(preds, chosen))[:5]))
