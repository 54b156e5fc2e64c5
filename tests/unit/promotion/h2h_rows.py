"""Head-to-head input rows made the way production makes them: quality rows through the
benchmark's `item_rows` with scores from the training metric `score_items` on generated
extraction (or capitals) items; latency rows with the interleaved run's keys."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from configs.data import GeneratedDataConfig
from tasks.benchmark.quality import item_rows
from tasks.training.eval_metrics import item_id, score_items
from tasks.training.synthetic import generate_split


def eval_items(n: int, task: str = "extraction") -> tuple[list[str], list[str]]:
    """(item ids, references) of the first `n` held-out generated items."""
    _, rows = generate_split(GeneratedDataConfig(task=task, num_examples=max(40, 3 * n), seed=0), 0.5)
    rows = rows[:n]
    if len(rows) < n:
        raise ValueError(f"asked for {n} items, the generator gave {len(rows)}")
    ids = [item_id(i, r["messages"][:-1]) for i, r in enumerate(rows)]
    return ids, [r["messages"][-1]["content"] for r in rows]


def answer(reference: str, wrong: bool, how: int) -> str:
    """A model's answer: the reference, or a typical mistake (a reformatted value, a dropped
    field, or prose instead of JSON)."""
    if not wrong:
        return reference
    try:
        record = json.loads(reference)
    except ValueError:
        return "I am not sure."
    key = sorted(record)[how % len(record)]
    if how % 3 == 0:
        return json.dumps({**record, key: "n/a"})
    if how % 3 == 1:
        return json.dumps({k: v for k, v in record.items() if k != key})
    return f"Sure! The {key} is {record[key]}."


def quality_rows(n: int, wrong: dict[str, set[int]], task: str = "extraction") -> list[dict[str, Any]]:
    """`item_rows` for sides `wrong` names (champion, tuned, base), each wrong on its items."""
    ids, references = eval_items(n, task)
    predictions = {side: [answer(ref, i in bad, i) for i, ref in enumerate(references)]
                   for side, bad in wrong.items()}
    scores = {side: score_items(preds, references) for side, preds in predictions.items()}
    return item_rows(ids, references, predictions, scores)


def latency_rows(n: int, ratio: float, *, seed: int = 0, noise: float = 0.05, failed: frozenset[int] = frozenset(),
                 one_token: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """One row per request of an interleaved run: each prompt once to each side; the candidate's
    latencies are the champion's times `ratio` (with multiplicative noise). `failed`: prompt
    indices whose candidate request failed; `one_token`: whose answers were one token (no TPOT)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(2 * n)
    rows = []
    for index in range(n):
        ttft, tpot, tokens = rng.lognormal(4.5, 0.5), rng.lognormal(3, 0.3), int(rng.integers(2, 40))
        for side, model, scale in (("champion", "bot-v3", 1.0), ("candidate", "bot-v4", ratio)):
            ok = not (side == "candidate" and index in failed)
            t_ttft = ttft * scale * rng.lognormal(0, noise)
            t_tpot = None if index in one_token else tpot * scale * rng.lognormal(0, noise)
            e2el = t_ttft + (t_tpot or 0.0) * (tokens - 1)
            slot = int(order[2 * index + (side == "candidate")])
            rows.append({"side": side, "prompt_index": index, "request_id": f"{side}-{index}", "model": model,
                         "success": ok, "ttft_ms": t_ttft if ok else None, "tpot_ms": t_tpot if ok else None,
                         "e2el_ms": e2el if ok else None, "planned_s": slot * 0.05})
    return sorted(rows, key=lambda r: r["planned_s"])
