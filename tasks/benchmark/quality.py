"""Quality of the served model on held-out eval prompts, with the training task's metric.

The metric lives with training (`tasks.training.eval_metrics.load_eval_examples(path)` and
`score(predictions, references)`); it is passed in as `loader`/`scorer` so this module
does not depend on where it is defined, and tests can give their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from configs.errors import BenchmarkError

Loader = Callable[[Path], Sequence[Any]]
Scorer = Callable[[list[str], list[str]], Any]


def default_metric() -> tuple[Loader, Scorer]:
    from tasks.training.eval_metrics import load_eval_examples, score

    return load_eval_examples, score


def _field(example: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = example.get(name) if isinstance(example, dict) else getattr(example, name, None)
        if value is not None:
            return value
    return None


def split_example(example: Any) -> tuple[str | list[dict[str, Any]], str]:
    prompt = _field(example, ("messages", "prompt_messages", "prompt", "input", "question"))
    reference = _field(example, ("reference", "completion", "response", "target", "answer", "output"))
    if prompt is None or reference is None:
        raise BenchmarkError(f"eval example {str(example)[:120]!r} has no prompt/messages or no reference/completion")
    return prompt, str(reference)


def as_number(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict) and isinstance(value.get("score"), (int, float)):
        return float(value["score"])
    raise BenchmarkError(f"the eval metric returned {value!r}; expected a number or a dict with 'score'")


async def generate(base_url: str, model: str, prompts: Sequence[str | list[dict[str, Any]]], *, endpoint: str = "chat",
                   max_tokens: int = 64, api_key: str | None = None, timeout_s: float = 120.0,
                   concurrency: int = 8) -> list[str]:
    """Greedy (temperature 0) non-streaming answers, in prompt order."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    sem = asyncio.Semaphore(concurrency)
    chat = endpoint == "chat"
    url = base_url.rstrip("/") + ("/v1/chat/completions" if chat else "/v1/completions")

    async def one(client: httpx.AsyncClient, prompt: str | list[dict[str, Any]]) -> str:
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0.0}
        if chat:
            body["messages"] = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt if isinstance(prompt, str) else "\n".join(str(m.get("content")) for m in prompt)
        async with sem:
            try:
                resp = await client.post(url, content=orjson.dumps(body), headers=headers)
            except httpx.HTTPError as exc:
                raise BenchmarkError(f"quality request to {url} failed: {exc!r}") from exc
        if resp.status_code != 200:
            raise BenchmarkError(f"quality request to {url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        choice = resp.json()["choices"][0]
        return (choice.get("message") or {}).get("content") or "" if chat else choice.get("text") or ""

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        return list(await asyncio.gather(*(one(client, p) for p in prompts)))


def evaluate_quality(eval_path: Path, base_url: str, model: str, *, loader: Loader | None = None,
                     scorer: Scorer | None = None, max_examples: int = 50, **gen_kwargs: Any) -> dict[str, Any]:
    if loader is None or scorer is None:
        default_loader, default_scorer = default_metric()
        loader, scorer = loader or default_loader, scorer or default_scorer
    examples = list(loader(Path(eval_path)))[:max_examples]
    if not examples:
        raise BenchmarkError(f"eval file {eval_path} has no examples")
    pairs = [split_example(e) for e in examples]
    predictions = asyncio.run(generate(base_url, model, [p for p, _ in pairs], **gen_kwargs))
    value = as_number(scorer(predictions, [r for _, r in pairs]))
    return {"quality": value, "quality_examples": len(pairs), "quality_eval_path": str(eval_path)}
