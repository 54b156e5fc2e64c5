"""The benchmark-then-gate sequence both flows run: measure the served candidate (with the
champion's answers on the same items when it is served beside it), compare head to head when
there is a champion, decide. Only orders tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from configs.promotion import PromotionConfig
from tasks.benchmark.tasks import benchmark_task, capacity_sweep_task
from tasks.promotion.tasks import head_to_head_task, promotion_gate_task


def measure_and_decide(promotion: PromotionConfig, bench_cfg: BenchmarkConfig, deployment: dict[str, Any],
                       out_dir: Path, logs: str, *, champion: dict[str, Any], gate: dict[str, Any] | None,
                       capacity: CapacityConfig | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(benchmark summary, head-to-head files or None, gate decision or None).

    `champion`: champion_task's answer (ref None: nobody to compare with). `gate`: None to
    measure only; else {"tracking_uri", "name", "version", "champion_quality"}. `capacity`: also
    sweep for the capacity at its SLO (the summary's `capacity`); the champion too, on the same
    server, when the gate checks capacity (`promotion.min_capacity_ratio`)."""
    from tasks.benchmark.quality import ITEMS_FILE

    champion_name = deployment.get("served_names", {}).get(champion["ref"]) if champion.get("ref") else None
    bench = benchmark_task(bench_cfg, deployment["base_url"], deployment["served_name"], str(out_dir / "result.json"),
                           logs, base_model=deployment.get("base_name"), champion_model=champion_name)
    sweeps: dict[str, Any] = {}
    if capacity is not None:
        sweeps["candidate"] = capacity_sweep_task(bench_cfg, capacity, deployment["base_url"],
                                                  deployment["served_name"], str(out_dir / "capacity.json"), logs)
        bench = {**bench, "capacity": sweeps["candidate"]}
        if champion_name and promotion.min_capacity_ratio is not None:
            sweeps["champion"] = capacity_sweep_task(bench_cfg, capacity, deployment["base_url"], champion_name,
                                                     str(out_dir / "capacity_champion.json"), logs)
    h2h = None
    if champion_name:
        items = out_dir / ITEMS_FILE if bench.get("quality") is not None else None
        h2h = head_to_head_task(promotion, bench_cfg, deployment["base_url"], champion_name, deployment["served_name"],
                                str(out_dir), str(items) if items else None, logs, champion["version"],
                                gate["version"] if gate else None)
    decision = None
    if gate is not None:
        decision = promotion_gate_task(bench["result_file"], promotion, gate["tracking_uri"], gate["name"],
                                       gate["version"], gate["champion_quality"],
                                       h2h["comparison_file"] if h2h else None, logs, champion.get("version"),
                                       sweeps if "champion" in sweeps else None)
    return bench, h2h, decision
