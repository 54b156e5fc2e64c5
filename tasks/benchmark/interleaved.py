"""Head-to-head load: the same prompts to several served names, interleaved in one open-loop run.

Champion and candidate served by one vLLM share its batches, so a latency difference between
two separate runs would mix the model with whatever else the machine did at the time. Here every
prompt goes to every model, and all `len(models) * num_requests` requests are put in ONE seeded
random order under ONE schedule (`cfg.request_rate`, `burstiness`, `max_concurrency`, as a normal
run), so both sides meet the same load at the same moments. The order is blocked by prompt: the
prompts come in a random order, and each prompt's requests (one per model, themselves in random
order) are sent one after the other, so the two answers to one prompt meet nearly the same
queue and batch and their latencies compare as pairs. A fully shuffled order would put one at
queue position 3 and the other at 150, and the pair's difference would be mostly queueing: on
the tiny model's all-at-once run that made the intervals of identical models too wide to pass. The prompts are those of a normal run (`load_prompts` with `cfg.seed`);
`seed` draws the order and the send times. Failures are data (`success`, `error`), as in
run_benchmark; only every warm-up of one model failing stops the run.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import orjson

from configs.benchmark import BenchmarkConfig
from configs.errors import BenchmarkError
from logging_lib import InferenceLogger, bind_context
from tasks.benchmark.bench import log_callbacks, request_record
from tasks.benchmark.client import RequestInput, RequestOutput
from tasks.benchmark.dataset import load_prompts
from tasks.benchmark.runner import LoadShape, run_load_sync

# ttft_ms/e2el_ms count from each request's actual send (vLLM's definition): the client's own
# lateness, which has nothing to do with either model, stays out of the pairs the gate compares.
ROW_FIELDS = ("side", "prompt_index", "request_id", "model", "success", "status", "error", "planned_s", "send_lag_ms",
              "ttft_ms", "tpot_ms", "e2el_ms", "output_tokens")


def interleaved_inputs(prompts: list[tuple[Any, dict[str, Any]]], models: dict[str, str], max_tokens: int,
                       seed: int, run_id: str) -> list[tuple[str, int, RequestInput]]:
    """(side, prompt index, request) for every prompt and every side, in one seeded random order,
    blocked by prompt (see the module's docstring)."""
    rng = random.Random(seed)
    order = list(range(len(prompts)))
    rng.shuffle(order)
    planned = []
    for i in order:
        prompt, extra = prompts[i]
        sides = list(models.items())
        rng.shuffle(sides)
        planned += [(side, i, RequestInput(f"h2h-{run_id[:8]}-{side}-{i:05d}", prompt, max_tokens, dict(extra), name))
                    for side, name in sides]
    return planned


def run_interleaved(cfg: BenchmarkConfig, base_url: str, models: dict[str, str], *, num_requests: int, seed: int,
                    logger: InferenceLogger | None = None, api_key: str | None = None,
                    rows_file: Path | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
    """Run the interleaved load; one row per request (ROW_FIELDS) in send order, also written as
    JSONL to `rows_file` when given. `models` maps a side (`champion`) to its served name."""
    if not models:
        raise BenchmarkError("run_interleaved needs at least one model: {side: served name}")
    if num_requests <= 0:
        raise BenchmarkError(f"num_requests must be > 0, got {num_requests}")
    run_id = run_id or uuid.uuid4().hex
    prompts = load_prompts(cfg.dataset_path, num_requests, cfg.seed)
    planned = interleaved_inputs(prompts, models, cfg.max_tokens, seed, run_id)
    first = next(iter(models.values()))
    shape = LoadShape(base_url=base_url, model=first, endpoint=cfg.endpoint, request_rate=cfg.request_rate,
                      burstiness=cfg.burstiness, max_concurrency=cfg.max_concurrency, seed=seed,
                      warmup_requests=cfg.warmup_requests, temperature=cfg.temperature, ignore_eos=cfg.ignore_eos,
                      request_timeout_s=cfg.request_timeout_s, api_key=api_key)
    on_start, on_result = log_callbacks(logger, first)
    with bind_context(benchmark_run_id=run_id):
        outputs, _ = run_load_sync(shape, [req for _, _, req in planned], on_start=on_start, on_result=on_result)
    rows = [interleaved_row(side, index, req, out) for (side, index, req), out in zip(planned, outputs)]
    if rows_file is not None:
        write_rows(Path(rows_file), rows)
    return rows


def interleaved_row(side: str, prompt_index: int, req: RequestInput, out: RequestOutput) -> dict[str, Any]:
    """One request's row, its numbers rounded as the result JSON's `requests` (bench.request_record)."""
    rec = request_record(out)
    return {"side": side, "prompt_index": prompt_index, "request_id": req.request_id, "model": req.model,
            "success": rec.success, "status": rec.status, "error": rec.error, "planned_s": rec.planned_s,
            "send_lag_ms": rec.send_lag_ms, "ttft_ms": rec.ttft_ms, "tpot_ms": rec.tpot_ms, "e2el_ms": rec.e2el_ms,
            "output_tokens": rec.output_tokens}


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path
