"""The head-to-head load: one seeded interleaved open-loop run over two served names of the stub,
one of them made slower by the stub (`--model-ttft`), as the calibration benchmark does."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from configs.benchmark import BenchmarkConfig
from logging_lib import InferenceLogger
from logging_lib.schemas import validate_file
from tasks.benchmark.interleaved import ROW_FIELDS, run_interleaved
from testkit.stub_vllm import StubServer
from tests.conftest import REPO_ROOT
from tests.unit.benchmark.conftest import stub_process

EXTRA_MS = 200.0
MODELS = {"champion": "bot-v3", "candidate": "bot-v4"}


@pytest.fixture(scope="module")
def slow_candidate_url() -> Iterator[str]:
    """The stub in its own process, the candidate's name given EXTRA_MS more time to first token."""
    yield from stub_process("--model", "bot-base", "--ttft-ms", "5", "--itl-ms", "1", "--model-ttft", f"bot-v4={EXTRA_MS:g}")


def _dataset(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"prompt number {i}"}) + "\n" for i in range(n)))
    return path


def _cfg(tmp_path: Path, n: int = 10) -> BenchmarkConfig:
    return BenchmarkConfig(num_prompts=3, max_tokens=4, request_rate=60, dataset_path=_dataset(tmp_path, n))


def test_every_prompt_reaches_every_model_once_in_one_seeded_interleaved_order(
        slow_candidate_url: str, tmp_path: Path, log_dir: Path) -> None:
    before = httpx.get(slow_candidate_url + "/stats").json()["by_model"]
    rows_file = tmp_path / "h2h" / "rows.jsonl"
    with InferenceLogger("benchmark", str(log_dir)) as logger:
        rows = run_interleaved(_cfg(tmp_path), slow_candidate_url, MODELS, num_requests=10, seed=7, logger=logger,
                               rows_file=rows_file, run_id="h2hrun01")
    assert [json.loads(x) for x in rows_file.read_text().splitlines()] == rows
    assert all(tuple(r) == ROW_FIELDS for r in rows) and all(r["success"] for r in rows)
    assert Counter((r["side"], r["prompt_index"]) for r in rows) == {
        (side, i): 1 for side in MODELS for i in range(10)}
    assert all(r["model"] == MODELS[r["side"]] for r in rows)
    after = httpx.get(slow_candidate_url + "/stats").json()["by_model"]
    assert {m: after[m] - before.get(m, 0) for m in MODELS.values()} == {"bot-v3": 11, "bot-v4": 11}  # + 1 warm-up
    # one schedule: send times rise through the run, and the sides take turns rather than run one after the other
    assert [r["planned_s"] for r in rows] == sorted(r["planned_s"] for r in rows)
    sides = [r["side"] for r in rows]
    assert sum(a != b for a, b in zip(sides, sides[1:])) >= 4
    assert set(sides[:10]) == set(MODELS)
    # blocked by prompt: each prompt's two requests go one after the other, in either order
    pairs = [rows[k:k + 2] for k in range(0, len(rows), 2)]
    assert all(a["prompt_index"] == b["prompt_index"] and {a["side"], b["side"]} == set(MODELS) for a, b in pairs)
    assert len({a["side"] for a, _ in pairs}) == 2 and [a["prompt_index"] for a, _ in pairs] != list(range(10))

    log = next((log_dir / "inference").glob("benchmark_*.log"))
    assert validate_file(log).ok
    events = [json.loads(x) for x in log.read_text().splitlines()]
    responses = {e["request_id"]: e["model_name"] for e in events if e["message"] == "benchmark_response"}
    assert responses == {r["request_id"]: r["model"] for r in rows}
    assert {e["benchmark_run_id"] for e in events} == {"h2hrun01"}


def test_the_order_is_reproducible_by_seed(slow_candidate_url: str, tmp_path: Path) -> None:
    def order(seed: int) -> list[tuple[str, int]]:
        rows = run_interleaved(_cfg(tmp_path, 6), slow_candidate_url, MODELS, num_requests=6, seed=seed)
        return [(r["side"], r["prompt_index"]) for r in rows]

    first = order(3)
    assert order(3) == first
    assert order(4) != first


def test_the_slower_name_shows_its_extra_ttft_and_the_other_does_not(slow_candidate_url: str, tmp_path: Path) -> None:
    rows = run_interleaved(_cfg(tmp_path), slow_candidate_url, MODELS, num_requests=10, seed=1)
    ttft = {side: [r["ttft_ms"] for r in rows if r["side"] == side] for side in MODELS}
    assert min(ttft["candidate"]) >= EXTRA_MS            # the stub waits at least that long for every one
    assert statistics.median(ttft["champion"]) < EXTRA_MS
    assert statistics.median(ttft["candidate"]) - statistics.median(ttft["champion"]) >= EXTRA_MS / 2


def test_stub_model_ttft_applies_to_unary_answers_and_lists_adapters_with_their_parent() -> None:
    stub = StubServer(model="bot-base", model_ttft_ms={"bot-v4": EXTRA_MS}).start_in_thread()
    try:
        httpx.post(stub.base_url + "/v1/load_lora_adapter", json={"lora_name": "bot-v4", "lora_path": "/a"})
        models = {m["id"]: m for m in httpx.get(stub.base_url + "/v1/models").json()["data"]}
        assert models["bot-v4"]["parent"] == "bot-base" and models["bot-base"]["parent"] is None
        took = {}
        for name in ("bot-base", "bot-v4"):
            resp = httpx.post(stub.base_url + "/v1/chat/completions", timeout=10,
                              json={"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            took[name] = resp.elapsed.total_seconds() * 1000
        assert took["bot-v4"] >= EXTRA_MS and took["bot-base"] < took["bot-v4"]
    finally:
        stub.stop_thread()


def test_stub_cli_refuses_a_malformed_model_ttft() -> None:
    proc = subprocess.run([sys.executable, "-m", "testkit.stub_vllm", "--model-ttft", "bot-v4"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "expected NAME=MS" in proc.stderr
