"""Held-out quality through the server: the tuned model and its base, on the same items.

vLLM serving an adapter answers as two names: the adapter (`served_name`, the tuned model)
and the base (`base_name`). Both answer every eval item with the same greedy settings, the
training task's metric scores each answer (`eval_metrics.score_items`/`summarize`), and a
per-item file (`quality_items.jsonl`, one line per item keyed by `eval_metrics.item_id`, the
id training's per-item file uses too) keeps every score, so runs and models compare item by
item. A server without a separate base name (base only, a merged model, a stub) scores the
served name alone. Examples come from `loader` (default `eval_metrics.load_eval_examples`).

`others` ({side: served name}, e.g. {"champion": "X-v3"}) asks more models the same items with
the same settings, for head-to-head promotion: their `<side>_prediction` and `<side>_<metric>`
columns join the per-item file, so each item's scores pair across models.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from configs.errors import BenchmarkError
from tasks.benchmark.results import QualitySummary

Loader = Callable[[Path], Sequence[Any]]
Prompt = str | list[dict[str, Any]]
ITEMS_FILE = "quality_items.jsonl"


def _field(example: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = example.get(name) if isinstance(example, dict) else getattr(example, name, None)
        if value is not None:
            return value
    return None


def split_example(example: Any) -> tuple[Prompt, str]:
    prompt = _field(example, ("messages", "prompt_messages", "prompt", "input", "question"))
    reference = _field(example, ("reference", "completion", "response", "target", "answer", "output"))
    if prompt is None or reference is None:
        raise BenchmarkError(f"eval example {str(example)[:120]!r} has no prompt/messages or no reference/completion")
    return prompt, str(reference)


def as_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """What the chat endpoint is sent (and what the item id hashes): a bare string is one user turn."""
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


async def generate(base_url: str, model: str, prompts: Sequence[Prompt], *, endpoint: str = "chat",
                   max_tokens: int = 64, api_key: str | None = None, timeout_s: float = 120.0,
                   concurrency: int = 8, request_ids: Sequence[str] | None = None) -> list[str]:
    """Greedy (temperature 0) non-streaming answers, in prompt order; `request_ids` (one per
    prompt) are sent as X-Request-ID, so a gateway's log lines join the per-item rows."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    if request_ids is not None and len(request_ids) != len(prompts):
        raise BenchmarkError(f"{len(request_ids)} request ids for {len(prompts)} prompts")
    sem = asyncio.Semaphore(concurrency)
    chat = endpoint == "chat"
    url = base_url.rstrip("/") + ("/v1/chat/completions" if chat else "/v1/completions")

    async def one(client: httpx.AsyncClient, prompt: Prompt, rid: str | None) -> str:
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0.0}
        if chat:
            body["messages"] = as_messages(prompt)
        else:
            body["prompt"] = prompt if isinstance(prompt, str) else "\n".join(str(m.get("content")) for m in prompt)
        async with sem:
            try:
                resp = await client.post(url, content=orjson.dumps(body),
                                         headers={**headers, "x-request-id": rid} if rid else headers)
            except httpx.HTTPError as exc:
                raise BenchmarkError(f"quality request to {url} (model {model!r}) failed: {exc!r}") from exc
        if resp.status_code != 200:
            raise BenchmarkError(f"quality request to {url} (model {model!r}) answered HTTP {resp.status_code}: "
                                 f"{resp.text[:200]}")
        choice = resp.json()["choices"][0]
        return (choice.get("message") or {}).get("content") or "" if chat else choice.get("text") or ""

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        ids = request_ids if request_ids is not None else [None] * len(prompts)
        return list(await asyncio.gather(*(one(client, p, rid) for p, rid in zip(prompts, ids))))


def item_rows(ids: list[str], references: list[str], predictions: dict[str, list[str]],
              scores: dict[str, list[dict[str, Any]]],
              request_ids: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """One flat row per item, shaped like training's `eval_items.jsonl`: id, reference, and per
    side (`tuned`, `base`) `<side>_prediction` and `<side>_<metric>` for each score, plus
    `<side>_request_id` (the X-Request-ID its answer was asked with) when given."""
    rows = []
    for i, (item, reference) in enumerate(zip(ids, references)):
        row: dict[str, Any] = {"item_id": item, "reference": reference}
        for side in predictions:
            if request_ids is not None:
                row[f"{side}_request_id"] = request_ids[side][i]
            row[f"{side}_prediction"] = predictions[side][i]
            row.update({f"{side}_{metric}": value for metric, value in scores[side][i].items()})
        rows.append(row)
    return rows


def write_items(path: Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def compares_base(model: str, base_model: str | None) -> bool:
    """The base is scored only when the server serves it under a name of its own."""
    return bool(base_model) and base_model != model


def quality_request_ids(run_id: str, side: str, n: int) -> list[str]:
    """`quality-<run>-<side>-<index>`: unique per request and run, as the load's `bench-<run>-<index>`."""
    return [f"quality-{run_id[:8]}-{side}-{i:05d}" for i in range(n)]


def evaluate_quality(eval_path: Path, base_url: str, model: str, *, base_model: str | None = None,
                     items_file: Path | None = None, loader: Loader | None = None, max_examples: int = 50,
                     others: dict[str, str] | None = None, run_id: str | None = None,
                     **gen_kwargs: Any) -> QualitySummary:
    """Score `model` (and `base_model`, when it is another name, and each of `others`) on the
    first `max_examples` eval items; write the per-item rows to `items_file` when given. Each
    answer is asked with its own X-Request-ID (`quality_request_ids` of `run_id`, default: a new
    one), kept in its row."""
    from tasks.training.eval_metrics import item_id, load_eval_examples, score_items, summarize

    examples = list((loader or load_eval_examples)(Path(eval_path)))[:max_examples]
    if not examples:
        raise BenchmarkError(f"eval file {eval_path} has no examples")
    pairs = [split_example(e) for e in examples]
    prompts, references = [p for p, _ in pairs], [r for _, r in pairs]
    names = {"tuned": model, **({"base": base_model} if compares_base(model, base_model) else {})}
    clash = sorted(set(others or {}) & set(names))
    if clash:
        raise BenchmarkError(f"quality sides {clash} are taken by the tuned/base model; name the other models' "
                             "sides differently (e.g. 'champion')")
    names.update(others or {})
    run_id = run_id or uuid.uuid4().hex
    rids = {side: quality_request_ids(run_id, side, len(prompts)) for side in names}
    predictions = {side: asyncio.run(generate(base_url, name, prompts, request_ids=rids[side], **gen_kwargs))
                   for side, name in names.items()}
    scores = {side: score_items(preds, references) for side, preds in predictions.items()}
    if items_file is not None:
        ids = [item_id(i, as_messages(p)) for i, p in enumerate(prompts)]
        write_items(items_file, item_rows(ids, references, predictions, scores, rids))
    return QualitySummary(examples=len(pairs), eval_path=str(eval_path), tuned=summarize(scores["tuned"]),
                          base=summarize(scores["base"]) if "base" in scores else None,
                          base_model_id=names.get("base"), items_file=str(items_file) if items_file else None)
