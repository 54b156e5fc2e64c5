"""The quality half of the gate calibration, on the real vLLM CPU build and the tiny model.

Set-up, once: `mlops train` the tiny config twice in a temporary data dir (a larger generated
pool so item subsets differ): the full run (the champion) and a short one (a candidate truly
worse). The full adapter's folder is copied and registered again as a third version (its twin,
for A/A). One managed vLLM serves all three as `NAME-v1..v3`. Each comparison then asks both
sides a fresh seeded subset of the held-out pool (`evaluate_quality(..., others=)`) and runs a
fresh interleaved latency run, exactly the measurements `mlops promote --compare` takes.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._calibration_gates import Outcome, judge_both
from bench._procs import REPO
from configs.errors import PipelineError
from configs.pipeline import PipelineConfig

AA, AB = "A/A quality", "A/B quality"
TINY = REPO / "configs" / "tiny.yaml"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class VllmSetup:
    work_dir: Path
    num_examples: int = 1000          # generated pool; 15% held out
    weak_steps: int = 75              # the worse candidate's training steps (the full run: the config's)
    requests: int = 64                # interleaved latency requests per model and comparison


@dataclass(frozen=True)
class Served:
    base_url: str
    champion: str
    twin: str
    weak: str
    eval_path: Path
    pid: int | None


def overrides(setup: VllmSetup) -> list[str]:
    return [f"paths.data_dir={setup.work_dir / 'data'}", f"data.generate.num_examples={setup.num_examples}",
            "data.max_eval_examples=null"]


def train(setup: VllmSetup, run_name: str, extra: Sequence[str], progress: Progress) -> dict[str, str]:
    """`mlops train` in its own process; returns what it printed (adapter path, version, quality)."""
    sets = [*overrides(setup), f"train.run_name={run_name}", *extra]
    cmd = [sys.executable, "-m", "flows.cli", "train", "--config", str(TINY), "--log-dir",
           str(setup.work_dir / "logs"), *(arg for s in sets for arg in ("--set", s))]
    progress(f"==> mlops train {' '.join(sets[-1 - len(extra):])}")
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    if done.returncode != 0:
        raise PipelineError(f"mlops train ({run_name}) failed with exit {done.returncode}:\n{done.stderr[-2000:]}")
    found = dict(re.findall(r"^([a-z ()A-Z]+?):\s+(.*)$", done.stdout, flags=re.MULTILINE))
    version = re.search(r"version (\d+)", found.get("registered version", ""))
    if version is None:
        raise PipelineError(f"mlops train ({run_name}) registered no version; it printed:\n{done.stdout[-1000:]}")
    progress(f"    {found.get('exact match (HF)', '')}")
    return {**found, "version": version.group(1)}


def register_twin(cfg: PipelineConfig, version: str, work_dir: Path) -> str:
    """The same adapter as another version: its folder copied (same run + same source would be reused)."""
    from tasks.registry.versions import client_for, register_adapter, resolve_model

    uri, name = str(cfg.mlflow.tracking_uri), cfg.mlflow.registered_model_name
    original = resolve_model(uri, f"models:/{name}/{version}")
    twin_dir = work_dir / "twin-adapter"
    shutil.copytree(original.adapter_dir, twin_dir, dirs_exist_ok=True)
    mv = client_for(uri).get_model_version(name, version)
    tags = {**mv.tags, "adapter_uri": str(twin_dir), "adapter_path": str(twin_dir)}
    return register_adapter(uri, name, mv.run_id, str(twin_dir), tags, alias=None,
                            description=f"a copy of version {version}, for the A/A calibration")


def pool_means(served: Served, items_file: Path, max_tokens: int) -> tuple[float, float, int]:
    """(champion, weak) mean exact match over the whole held-out pool, and its size."""
    from tasks.benchmark.quality import evaluate_quality
    from tasks.promotion.head_to_head import read_rows
    from tasks.training.eval_metrics import load_eval_examples

    n = len(load_eval_examples(served.eval_path))
    evaluate_quality(served.eval_path, served.base_url, served.weak, others={"champion": served.champion},
                     items_file=items_file, max_examples=n, max_tokens=max_tokens, concurrency=32)
    rows = read_rows(items_file)
    return (sum(r["champion_exact_match"] for r in rows) / n, sum(r["tuned_exact_match"] for r in rows) / n, n)


@dataclass(frozen=True)
class Measured:
    quality_rows: list[dict[str, Any]]
    latency_rows: list[dict[str, Any]]
    candidate_quality: float
    champion_quality: float


def measure(served: Served, cfg: PipelineConfig, setup: VllmSetup, candidate: str, size: int, seed: int,
            items_file: Path) -> Measured:
    """One head-to-head measurement: `size` items drawn with `seed` from the pool, then the load."""
    from tasks.benchmark.interleaved import run_interleaved
    from tasks.benchmark.plan import benchmark_config
    from tasks.benchmark.quality import evaluate_quality
    from tasks.promotion.head_to_head import read_rows
    from tasks.training.eval_metrics import load_eval_examples

    bench = benchmark_config(cfg, str(served.eval_path)).model_copy(update={"seed": seed, "ignore_eos": True})
    pool = load_eval_examples(served.eval_path)
    if size > len(pool):
        raise PipelineError(f"--sizes: {size} items asked but the held-out pool has {len(pool)}; raise "
                            "--num-examples or lower the size")
    subset = random.Random(seed).sample(pool, size)
    summary = evaluate_quality(served.eval_path, served.base_url, candidate, others={"champion": served.champion},
                               items_file=items_file, loader=lambda _: subset, max_examples=size,
                               endpoint=bench.endpoint, max_tokens=bench.quality_max_tokens(), concurrency=size)
    rows = read_rows(items_file)
    latency = run_interleaved(bench, served.base_url, {"champion": served.champion, "candidate": candidate},
                              num_requests=setup.requests, seed=seed)
    return Measured(rows, latency, summary.tuned["exact_match"],
                    sum(r["champion_exact_match"] for r in rows) / len(rows))


def quality_runs(served: Served, cfg: PipelineConfig, setup: VllmSetup, sizes: Sequence[int], runs: int,
                 progress: Progress, seed: int = 0) -> list[Outcome]:
    """A/A (the twin) and A/B (the weak candidate) at every size, `runs` comparisons each. The old
    gate's `champion_quality` for run r is the champion's measurement in run r-1 (cyclically):
    what the registry tag would hold from the previous day's run on other items."""
    outcomes: list[Outcome] = []
    for scenario, candidate in ((AA, served.twin), (AB, served.weak)):
        for size in sizes:
            got = []
            for run in range(runs):
                s = seed + (0 if scenario == AA else 1) * 1_000_000 + size * 1_000 + run
                got.append((s, measure(served, cfg, setup, candidate, size, s, setup.work_dir / "items.jsonl")))
            group = [judge_both(cfg.promotion.model_copy(update={"bootstrap_seed": s}), m.quality_rows,
                                m.latency_rows, scenario=scenario, size=size, run=run, quality=m.candidate_quality,
                                champion_quality=got[run - 1][1].champion_quality,
                                extra={"candidate_quality": m.candidate_quality,
                                       "champion_quality": m.champion_quality,
                                       "champion_recorded_quality": got[run - 1][1].champion_quality})
                     for run, (s, m) in enumerate(got)]
            outcomes += group
            progress(f"    {scenario:<12} {size:>3} items x {runs} runs: new gate rejects "
                     f"{sum(not o.new_passed for o in group)}, says worse {sum(o.new_worse for o in group)}; "
                     f"old gate rejects {sum(not o.old_passed for o in group)}")
    return outcomes


def serve(cfg: PipelineConfig, versions: dict[str, str], eval_path: Path, log_dir: Path) -> Served:
    """One managed vLLM serving the champion, its twin and the weak candidate."""
    from tasks.serving import deploy
    from tasks.serving.target import resolve_targets

    name = cfg.mlflow.registered_model_name
    refs = {role: f"models:/{name}/{v}" for role, v in versions.items()}
    target = resolve_targets(str(cfg.mlflow.tracking_uri), [refs["champion"], refs["twin"], refs["weak"]],
                             cfg.serving)
    dep = deploy(target, cfg.serving, log_dir).to_dict()
    names = dep["served_names"]
    return Served(dep["base_url"], names[refs["champion"]], names[refs["twin"]], names[refs["weak"]], eval_path,
                  dep.get("pid"))
