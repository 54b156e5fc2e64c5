"""The benchmark-then-gate sequence both flows run: measure the served candidate (with the
champion's answers on the same items when it is served beside it), compare head to head when
there is a champion, decide. Only orders tasks.

With `gateway_url` (serving.gateway_url) every request of the benchmark, quality, capacity
sweep and head-to-head load goes through the gateway, with the key from GatewaySettings
(resolved here, at the flow: tasks never read the environment), after a check that the
gateway is up and routes to this vLLM; vLLM itself stays deployed at its own URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from configs.promotion import PromotionConfig
from tasks.benchmark.tasks import benchmark_task, capacity_sweep_task
from tasks.promotion.tasks import head_to_head_task, promotion_gate_task
from tasks.serving.tasks import check_gateway_task


def measure_and_decide(promotion: PromotionConfig, bench_cfg: BenchmarkConfig, deployment: dict[str, Any],
                       out_dir: Path, logs: str, *, champion: dict[str, Any], gate: dict[str, Any] | None,
                       capacity: CapacityConfig | None = None, gateway_url: str | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(benchmark summary, head-to-head files or None, gate decision or None).

    `champion`: champion_task's answer (ref None: nobody to compare with). `gate`: None to
    measure only; else {"tracking_uri", "name", "version", "champion_quality"}. `capacity`: also
    sweep for the capacity at its SLO (the summary's `capacity`); the champion too, on the same
    server, when the gate checks capacity (`promotion.min_capacity_ratio`). `gateway_url`: send
    all of it through the gateway (see the module's docstring)."""
    from tasks.benchmark.quality import ITEMS_FILE

    champion_name = deployment.get("served_names", {}).get(champion["ref"]) if champion.get("ref") else None
    url, key = _traffic(deployment, gateway_url, champion_name)
    bench = benchmark_task(bench_cfg, url, deployment["served_name"], str(out_dir / "result.json"), logs, api_key=key,
                           base_model=deployment.get("base_name"), champion_model=champion_name)
    sweeps: dict[str, Any] = {}
    if capacity is not None:
        sweeps["candidate"] = capacity_sweep_task(bench_cfg, capacity, url, deployment["served_name"],
                                                  str(out_dir / "capacity.json"), logs, api_key=key)
        bench = {**bench, "capacity": sweeps["candidate"]}
        if champion_name and promotion.min_capacity_ratio is not None:
            sweeps["champion"] = capacity_sweep_task(bench_cfg, capacity, url, champion_name,
                                                     str(out_dir / "capacity_champion.json"), logs,
                                                     api_key=key)
    h2h = None
    if champion_name:
        items = out_dir / ITEMS_FILE if bench.get("quality") is not None else None
        h2h = head_to_head_task(promotion, bench_cfg, url, champion_name, deployment["served_name"],
                                str(out_dir), str(items) if items else None, logs, champion["version"],
                                gate["version"] if gate else None, api_key=key)
    decision = None
    if gate is not None:
        decision = promotion_gate_task(bench["result_file"], promotion, gate["tracking_uri"], gate["name"],
                                       gate["version"], gate["champion_quality"],
                                       h2h["comparison_file"] if h2h else None, logs, champion.get("version"),
                                       sweeps if "champion" in sweeps else None)
    return bench, h2h, decision


def _traffic(deployment: dict[str, Any], gateway_url: str | None, champion_name: str | None) -> tuple[str, str | None]:
    """(where benchmark traffic goes, the Bearer key it carries): the deployed vLLM without a
    gateway; else the gateway, once it is shown to route to every name the benchmark asks."""
    if not gateway_url:
        return deployment["base_url"], None
    from configs.serving import GatewaySettings

    key = GatewaySettings().client_key()
    names = [n for n in (deployment["served_name"], deployment.get("base_name"), champion_name) if n]
    check_gateway_task(gateway_url, list(dict.fromkeys(names)), deployment["base_url"], key)
    return gateway_url, key
