"""The latency half of the gate calibration, on the stub backend (testkit/stub_vllm.py).

One stub process serves three names: the champion, its twin (the same delays: A/A) and a slow
candidate whose every first token comes `extra_ttft_ms` later (A/B). The stub's seeded
lognormal TTFT jitter makes each request's latency vary as a real server's does, so the
intervals have width. Each run is a fresh interleaved open-loop run (`run_interleaved`, its
own seed for the order, the send times and the prompts) judged by both gates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._calibration_gates import Outcome, judge_both
from bench._procs import start_stub
from configs.benchmark import BenchmarkConfig
from configs.promotion import PromotionConfig
from tasks.benchmark.interleaved import run_interleaved

CHAMPION, TWIN, SLOW = "stub-v1", "stub-v2", "stub-v3"
AA, AB = "A/A latency", "A/B latency"


@dataclass(frozen=True)
class StubSetup:
    ttft_ms: float = 40.0
    itl_ms: float = 8.0
    extra_ttft_ms: float = 20.0     # the slow candidate: +50% TTFT at the median, twice the 25% latency margin of the CPU configs
    ttft_jitter: float = 0.1        # lognormal sigma of every request's TTFT
    max_tokens: int = 16
    request_rate: float = 400.0     # requests/s over both models, Poisson arrivals

    def args(self, seed: int) -> tuple[str, ...]:
        return ("--model", "stub-base", "--model-ttft", f"{SLOW}={self.extra_ttft_ms:g}",
                "--ttft-jitter", f"{self.ttft_jitter:g}", "--jitter-seed", str(seed))


def run_seed(scenario: str, size: int, run: int) -> int:
    """A distinct, reproducible seed for every (scenario, size, run)."""
    return (0 if scenario == AA else 1) * 1_000_000 + size * 1_000 + run


def latency_runs(setup: StubSetup, cfg: PromotionConfig, sizes: Sequence[int], runs: int,
                 progress: Callable[[str], None] = print, seed: int = 0) -> list[Outcome]:
    """A/A then A/B at every size, `runs` times each; the stub process is stopped in the end."""
    proc, url = start_stub(setup.ttft_ms, setup.itl_ms, setup.max_tokens, setup.args(seed))
    outcomes: list[Outcome] = []
    try:
        for scenario, candidate in ((AA, TWIN), (AB, SLOW)):
            for size in sizes:
                group = [_one(url, setup, cfg, scenario, candidate, size, run, seed) for run in range(runs)]
                outcomes += group
                progress(_group_line(group))
    finally:
        proc.terminate()
        proc.wait(10)
    return outcomes


def _one(url: str, setup: StubSetup, cfg: PromotionConfig, scenario: str, candidate: str, size: int, run: int,
         seed: int) -> Outcome:
    s = seed + run_seed(scenario, size, run)
    bench = BenchmarkConfig(num_prompts=size, max_tokens=setup.max_tokens, request_rate=setup.request_rate,
                            ignore_eos=True, seed=s, warmup_requests=1)
    rows = run_interleaved(bench, url, {"champion": CHAMPION, "candidate": candidate}, num_requests=size, seed=s)
    return judge_both(cfg.model_copy(update={"bootstrap_seed": s}), [], rows, scenario=scenario, size=size, run=run,
                      quality=None, champion_quality=None)


def _group_line(group: list[Outcome]) -> str:
    o = group[0]
    new = sum(not g.new_passed for g in group)
    worse = sum(g.new_worse for g in group)
    old = sum(not g.old_passed for g in group)
    return (f"    {o.scenario:<12} {o.size:>3} requests/model x {len(group)} runs: new gate rejects {new}, "
            f"says worse {worse}; old gate rejects {old}")
