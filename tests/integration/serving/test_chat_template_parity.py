"""The prompt vLLM builds for a chat request is, token for token, the prompt the trainer built
for the same messages (`chat_tokens.encode_prompt` with the tokenizer the trainer loaded and
saved beside the adapter). A mismatch here (a second BOS, another template, a different
generation prompt) silently ruins served quality while every other test stays green.

Both ways vLLM exposes it are checked, for the adapter's name and the base's: `/tokenize` with
`messages`, and the `prompt_token_ids` of a real chat completion (`return_token_ids`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tasks.training.chat_tokens import encode_prompt

pytestmark = pytest.mark.integration

SYSTEM = {"role": "system", "content": "You answer in one short sentence."}
CONVERSATIONS = {
    "user-only": [{"role": "user", "content": "the quick brown fox"}],
    "with-system": [SYSTEM, {"role": "user", "content": "what does the lazy dog do?"}],
    "multi-turn": [SYSTEM, {"role": "user", "content": "number 7 jumps"},
                   {"role": "assistant", "content": "over the lazy dog"},
                   {"role": "user", "content": "and number 8?"}],
    "multi-turn-no-system": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"},
                             {"role": "user", "content": "  spaces\tand\nnew lines, ünïcödé  "}],
}


def trainer_tokenizers(base: Path, adapter_dir: Path) -> dict[str, Any]:
    """What training encoded with (`load_tokenizer` on the base) and what it saved with the adapter."""
    from transformers import AutoTokenizer

    from configs.model import ModelConfig
    from tasks.training.model_setup import load_tokenizer

    if not (adapter_dir / "tokenizer_config.json").exists():
        pytest.fail(f"{adapter_dir} has no saved tokenizer; the trainer saves one with every adapter")
    return {"trainer": load_tokenizer(str(base), ModelConfig(name_or_path=str(base))),
            "adapter-dir": AutoTokenizer.from_pretrained(adapter_dir)}


def vllm_prompt_tokens(base_url: str, model: str, messages: list[dict[str, str]]) -> dict[str, list[int]]:
    tokenize = httpx.post(f"{base_url}/tokenize", timeout=60,
                          json={"model": model, "messages": messages, "add_generation_prompt": True})
    assert tokenize.status_code == 200, tokenize.text
    served = httpx.post(f"{base_url}/v1/chat/completions", timeout=120,
                        json={"model": model, "messages": messages, "max_tokens": 1, "temperature": 0,
                              "return_token_ids": True})
    assert served.status_code == 200, served.text
    return {"/tokenize": tokenize.json()["tokens"], "chat completion": served.json()["prompt_token_ids"]}


def check_parity(base_url: str, models: tuple[str, ...], tokenizers: dict[str, Any]) -> None:
    for name, messages in CONVERSATIONS.items():
        want = {label: encode_prompt(tok, messages) for label, tok in tokenizers.items()}
        assert want["trainer"] == want["adapter-dir"], f"{name}: the saved tokenizer encodes differently"
        expected = want["trainer"]
        bos = tokenizers["trainer"].bos_token_id
        assert bos is None or expected.count(bos) <= 1, f"{name}: the trainer's prompt has more than one BOS"
        for model in models:
            for how, got in vllm_prompt_tokens(base_url, model, messages).items():
                assert got == expected, (f"{name}, model {model!r}, {how}: vLLM built {len(got)} tokens, the trainer "
                                         f"{len(expected)}; first difference at "
                                         f"{next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)}")


def test_vllm_prompt_tokens_equal_the_trainers_on_the_tiny_model(stack, tiny_model) -> None:
    base, adapter = tiny_model
    check_parity(stack.deployment.base_url, (stack.target.served_name, stack.target.base_name),
                 trainer_tokenizers(base, adapter))
