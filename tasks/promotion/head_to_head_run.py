"""One head-to-head measurement and its decision files, for the flows, `mlops promote
--compare` and bench/gate_calibration.py alike.

Quality comes from the per-item file the benchmark's quality step wrote with a `champion`
side beside `tuned` (the candidate): the same items, the same greedy settings, one server.
Latency comes from one interleaved open-loop run of the same prompts to both served names
(`interleaved.run_interleaved`). Both go through the paired bootstrap
(`head_to_head.build_comparison`); the result is written as `comparison.json` with its table
(`comparison.md`) and forest plot (`comparison.png`) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.promotion import PromotionConfig

REQUESTS_FILE = "head_to_head_requests.jsonl"
COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class Contenders:
    """The two served names on one server, and their registry versions (None off the registry)."""

    base_url: str
    champion: str
    candidate: str
    champion_version: str | None = None
    candidate_version: str | None = None


def run_head_to_head(promotion: PromotionConfig, bench: BenchmarkConfig, who: Contenders, out_dir: Path, *,
                     quality_items_file: Path | None, log_dir: str | None = None, api_key: str | None = None,
                     latency: bool = True) -> dict[str, Any]:
    """Measure latency head to head (unless `latency` is off), compare, write the files; returns
    {"comparison": dict, "comparison_file", "markdown_file", "plot_file", "candidate_requests"}."""
    from logging_lib import InferenceLogger
    from tasks.benchmark.interleaved import run_interleaved
    from tasks.promotion.comparison_report import comparison_markdown, plot_forest
    from tasks.promotion.head_to_head import build_comparison, read_rows, write_comparison

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    # Same work per pair: every answer runs to max_tokens, so a one-token reply (whose single gap
    # may be a stall) cannot make a TPOT tail, and latency compares serving speed, not lengths
    # (quality compares the answers). SmolLM2's nightly run without it: p95 TPOT [0.29x, 3.37x].
    bench = bench.model_copy(update={"ignore_eos": True})
    if latency:
        with InferenceLogger("benchmark", log_dir) as logger:
            rows = run_interleaved(bench, who.base_url, {"champion": who.champion, "candidate": who.candidate},
                                   num_requests=promotion.head_to_head_requests or bench.num_prompts,
                                   seed=promotion.bootstrap_seed, logger=logger, api_key=api_key,
                                   rows_file=out_dir / REQUESTS_FILE)
    quality_rows = read_rows(quality_items_file) if quality_items_file is not None else []
    comparison = build_comparison(quality_rows, rows, promotion, champion=who.champion, candidate=who.candidate,
                                  champion_version=who.champion_version, candidate_version=who.candidate_version)
    path = write_comparison(comparison, out_dir / COMPARISON_FILE)
    markdown = out_dir / "comparison.md"
    markdown.write_text(comparison_markdown(comparison))
    plot = plot_forest(comparison, out_dir / "comparison.png")
    return {"comparison": comparison.to_dict(), "comparison_file": str(path), "markdown_file": str(markdown),
            "plot_file": str(plot), "candidate_requests": candidate_requests(rows)}


def candidate_requests(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(failed, total) of the candidate's interleaved requests ((0, 0) without a latency run)."""
    mine = [r for r in rows if r.get("side") == "candidate"]
    return sum(not r.get("success") for r in mine), len(mine)
