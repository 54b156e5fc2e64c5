"""Prompts for a benchmark: a JSONL file, or seeded synthetic prompts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from configs.errors import BenchmarkError
from tasks.benchmark.client import RequestInput

_WORDS = ("model data train serve token adapter latency stream request gateway metric prompt answer "
          "question vector layer weight batch epoch loss").split()


Prompt = str | list[dict[str, Any]]


def load_prompts(path: Path | None, n: int, seed: int = 0) -> list[tuple[Prompt, dict[str, Any]]]:
    """n (prompt, extra_body) pairs: from `path` (cycled if shorter; each line {"prompt": str} or
    {"messages": [...]}, optionally with "extra_body": {...} merged into that request, or a bare
    JSON string), else synthetic sentences of 8-24 words drawn with `seed`."""
    if path is None:
        rng = random.Random(seed)
        return [(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 24))), {}) for _ in range(n)]
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"benchmark dataset {path} does not exist; give a JSONL file with 'prompt' or 'messages'")
    prompts: list[tuple[Prompt, dict[str, Any]]] = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BenchmarkError(f"{path}:{number}: not JSON ({exc})") from exc
            extra = row.get("extra_body", {}) if isinstance(row, dict) else {}
            if not isinstance(extra, dict):
                raise BenchmarkError(f"{path}:{number}: 'extra_body' must be an object")
            if isinstance(row, str):
                prompts.append((row, {}))
            elif isinstance(row, dict) and isinstance(row.get("messages"), list):
                prompts.append((row["messages"], extra))
            elif isinstance(row, dict) and isinstance(row.get("prompt"), str):
                prompts.append((row["prompt"], extra))
            else:
                raise BenchmarkError(f"{path}:{number}: expected a string or an object with 'prompt' (string) "
                                     "or 'messages' (list)")
    if not prompts:
        raise BenchmarkError(f"benchmark dataset {path} has no prompts")
    return [prompts[i % len(prompts)] for i in range(n)]


def make_inputs(prompts: list[tuple[Prompt, dict[str, Any]]], max_tokens: int, run_id: str) -> list[RequestInput]:
    return [RequestInput(f"bench-{run_id[:8]}-{i:05d}", p, max_tokens, dict(extra))
            for i, (p, extra) in enumerate(prompts)]
