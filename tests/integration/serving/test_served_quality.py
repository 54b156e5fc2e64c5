"""The benchmark's quality step against real vLLM serving the tiny base plus an adapter: the
base side really asks the base name, the tuned side the adapter, on the same items with the
same greedy settings, and every per-item score is the metric's score of that answer."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from configs.benchmark import BenchmarkConfig
from configs.data import DataConfig
from tasks.benchmark.quality import ITEMS_FILE
from tasks.training.data import prepare_data
from tasks.training.eval_metrics import item_id, load_eval_examples, score_item, summarize

pytestmark = pytest.mark.integration

MAX_TOKENS = 8


def _row(question: str, answer: str) -> dict:
    return {"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


def _greedy(base_url: str, model: str, messages: list[dict]) -> str:
    resp = httpx.post(f"{base_url}/v1/chat/completions", timeout=120,
                      json={"model": model, "messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0.0})
    return resp.json()["choices"][0]["message"]["content"]


def test_benchmark_scores_base_and_adapter_through_vllm(stack, tmp_path: Path, log_dir: Path) -> None:
    from tasks.benchmark.tasks import benchmark_task

    train, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    train.write_text(json.dumps(_row("the quick brown fox number 1", "jumps")) + "\n")
    held.write_text("".join(json.dumps(_row(f"the quick brown fox number {i}", "jumps over the lazy dog")) + "\n"
                            for i in (2, 3, 4)))
    eval_path = prepare_data(DataConfig(name="fox", path=train, eval_path=held), tmp_path / "datasets").eval_path
    url, t = stack.deployment.base_url, stack.target
    cfg = BenchmarkConfig(num_prompts=3, max_tokens=MAX_TOKENS, request_rate=50, eval_path=eval_path)
    summary = benchmark_task.fn(cfg, url, t.served_name, str(tmp_path / "r" / "result.json"), str(log_dir),
                                base_model=t.base_name)

    rows = [json.loads(x) for x in (tmp_path / "r" / ITEMS_FILE).read_text().splitlines()]
    examples = load_eval_examples(eval_path)
    assert [r["item_id"] for r in rows] == [item_id(i, e.prompt_messages) for i, e in enumerate(examples)]
    for row, ex in zip(rows, examples):
        assert row["base_prediction"] == _greedy(url, t.base_name, ex.prompt_messages)
        assert row["tuned_prediction"] == _greedy(url, t.served_name, ex.prompt_messages)
        assert row["tuned"] == score_item(row["tuned_prediction"], ex.reference)
        assert row["base"] == score_item(row["base_prediction"], ex.reference)
    assert any(r["base_prediction"] != r["tuned_prediction"] for r in rows)  # two models answered
    assert summary["quality"] == summarize([r["tuned"] for r in rows])["exact_match"]
    assert summary["base_quality"] == summarize([r["base"] for r in rows])["exact_match"]
    raw = json.loads((tmp_path / "r" / "result.json").read_text())
    assert raw["quality_base_model"] == t.base_name and raw["model_id"] == t.served_name
