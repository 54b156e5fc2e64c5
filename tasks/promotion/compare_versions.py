"""`mlops promote --compare CHAMPION CANDIDATE`: the head-to-head gate run by hand, without
Prefect. The same steps the flows order as tasks: one vLLM serving both versions, both asked
the candidate's held-out items (and its base, for context), the interleaved latency run, the
bootstrap, the decision; then the alias moves on pass (unless dry-run), the candidate's
version gets the tags and `logs/system/` the `promotion_decision` event."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from configs.errors import PromotionError
from configs.pipeline import PipelineConfig


def compare_registered(cfg: PipelineConfig, champion_ref: str, candidate_ref: str, log_dir: Path, *,
                       apply: bool = True, hf_token: str | None = None, api_key: str | None = None,
                       progress: Any = print) -> dict[str, Any]:
    """Returns {"decision", "head_to_head", "out_dir", "candidate", "champion"}."""
    from configs.settings import Settings
    from tasks.benchmark.plan import benchmark_config, result_dir
    from tasks.registry.versions import resolve_model
    from tasks.serving import deploy, stop_process_tree
    from tasks.serving.target import resolve_targets

    uri = str(cfg.mlflow.tracking_uri)
    champion, candidate = resolve_model(uri, champion_ref), resolve_model(uri, candidate_ref)
    if (champion.name, champion.version) == (candidate.name, candidate.version):
        raise PromotionError(f"{champion_ref} and {candidate_ref} are the same version ({candidate.name} "
                             f"v{candidate.version}); compare two different versions")
    champ_ref, cand_ref = (f"models:/{m.name}/{m.version}" for m in (champion, candidate))
    eval_path = candidate.tags.get("eval_path") or _prepared_eval_path(cfg)
    out_dir = result_dir(cfg, f"{candidate.name}-v{candidate.version}-vs-v{champion.version}")
    progress(f"==> serving v{champion.version} and v{candidate.version} of {candidate.name} on one vLLM "
             f"({cfg.serving.mode})")
    started = time.monotonic()
    target = resolve_targets(uri, [cand_ref, champ_ref], cfg.serving)
    deployment = deploy(target, cfg.serving, log_dir, hf_token or Settings().hf_token_value()).to_dict()
    progress(f"    ready at {deployment['base_url']} in {time.monotonic() - started:.0f} s: "
             f"{deployment['served_names']}")
    try:
        bench = benchmark_config(cfg, eval_path)
        return _measure_and_decide(cfg, bench, deployment, (champ_ref, champion), (cand_ref, candidate), out_dir,
                                   log_dir, apply=apply, api_key=api_key, progress=progress)
    finally:
        if deployment.get("pid"):
            stop_process_tree(deployment["pid"], cfg.serving.stop_timeout_s)


def _measure_and_decide(cfg: PipelineConfig, bench: Any, deployment: dict[str, Any], champ: tuple[str, Any],
                        cand: tuple[str, Any], out_dir: Path, log_dir: Path, *, apply: bool, api_key: str | None,
                        progress: Any) -> dict[str, Any]:
    from tasks.benchmark.quality import ITEMS_FILE, evaluate_quality
    from tasks.promotion.decision_log import log_decision
    from tasks.promotion.gate import apply_decision, decide_head_to_head, failure_rate_check
    from tasks.promotion.head_to_head import read_comparison
    from tasks.promotion.head_to_head_run import Contenders, run_head_to_head
    from tasks.registry.benchmark_tags import record_benchmark

    (champ_ref, champion), (cand_ref, candidate) = champ, cand
    names = deployment["served_names"]
    who = Contenders(deployment["base_url"], names[champ_ref], names[cand_ref], champion.version, candidate.version)
    items = None
    if bench.eval_path is not None:
        progress(f"==> quality: both answer {bench.eval_max_examples} held-out items at most ({bench.eval_path})")
        items = out_dir / ITEMS_FILE
        evaluate_quality(bench.eval_path, who.base_url, who.candidate, base_model=deployment.get("base_name"),
                         others={"champion": who.champion}, items_file=items, max_examples=bench.eval_max_examples,
                         endpoint=bench.endpoint, max_tokens=bench.quality_max_tokens(), api_key=api_key,
                         concurrency=bench.max_concurrency or bench.eval_max_examples)
    progress(f"==> latency: {cfg.promotion.head_to_head_requests or bench.num_prompts} prompts to each, interleaved")
    h2h = run_head_to_head(cfg.promotion, bench, who, out_dir, quality_items_file=items, log_dir=str(log_dir),
                           api_key=api_key)
    failed, total = h2h["candidate_requests"]
    decision = decide_head_to_head(read_comparison(Path(h2h["comparison_file"])),
                                   failure_rate_check(failed, total, cfg.promotion))
    uri = str(cfg.mlflow.tracking_uri)
    if apply:
        out = apply_decision(decision, uri, candidate.name, candidate.version, cfg.promotion)
    else:
        out = {**decision.to_dict(), "model": candidate.name, "version": candidate.version, "promoted": False}
    out.update(champion_version=champion.version, comparison_file=h2h["comparison_file"])
    log_decision(out, log_dir, model_name=candidate.name, version=candidate.version, champion_version=champion.version)
    record_benchmark(uri, candidate.name, candidate.version, {}, out)
    return {"decision": out, "head_to_head": h2h, "out_dir": str(out_dir), "candidate": cand_ref,
            "champion": champ_ref}


def _prepared_eval_path(cfg: PipelineConfig) -> str:
    from tasks.training.data import prepare_data

    return str(prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path)
