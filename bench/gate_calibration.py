"""How often the head-to-head promotion gate gets it right, next to today's fixed-threshold gate.

Four scenarios, each compared `--runs` times at each size, every run a fresh measurement:

- A/A quality:  the champion adapter against a copy of itself registered as another version, on
                one vLLM (CPU build, tiny model). The right answer is pass; "worse" is a false alarm.
- A/B quality:  a candidate trained on fewer steps (truly worse on the whole held-out pool; both
                pool means are printed) against the full one. The right answer is reject.
- A/A latency:  the stub backend serving two equal names (seeded TTFT jitter, as a real server varies).
- A/B latency:  the same stub, the candidate's name with a known extra TTFT. Right answer: reject.

Both gates judge the same runs: the new one (`build_comparison` + `decide_head_to_head`) and
the old one (`gate.decide(result, cfg, champion_quality)`: p99 TTFT under a fixed bound,
quality at least the champion's recorded number, here its measurement in the previous run).
Rates come with 95% Wilson intervals. Training and the vLLM start happen once per invocation.

    .venv/bin/python -m bench.gate_calibration [--runs 20] [--sizes 12,24,48] [--latency-sizes 32,64,128]
        [--parts stub,vllm] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import _calibration_stub as stub
from bench import _calibration_vllm as real
from bench._calibration_gates import Outcome
from bench._calibration_stats import Row, summarize, table

EXPECTED = {real.AA: "pass", real.AB: "reject", stub.AA: "pass", stub.AB: "reject"}
Progress = Callable[[str], None]


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes as integers, e.g. 12,24,48") from None
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes of at least 2, e.g. 12,24,48")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="comparisons per scenario and size")
    ap.add_argument("--sizes", type=_sizes, default=(12, 24, 48), help="held-out items per quality comparison")
    ap.add_argument("--latency-sizes", type=_sizes, default=(32, 64, 128), help="stub requests per model")
    ap.add_argument("--parts", default="stub,vllm", help="stub, vllm or both (stub,vllm)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 6 runs at one small size per part")
    ap.add_argument("--out", type=Path, help="JSON of every decision and the summary table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ttft-jitter", type=float, default=stub.StubSetup.ttft_jitter, help="stub: lognormal sigma")
    ap.add_argument("--extra-ttft-ms", type=float, default=stub.StubSetup.extra_ttft_ms,
                    help="stub: the slow candidate's extra time to first token")
    ap.add_argument("--weak-steps", type=int, default=real.VllmSetup.weak_steps,
                    help="vLLM: training steps of the worse candidate (the champion: the config's)")
    ap.add_argument("--num-examples", type=int, default=real.VllmSetup.num_examples, help="vLLM: generated pool")
    ap.add_argument("--vllm-requests", type=int, default=real.VllmSetup.requests,
                    help="vLLM: interleaved requests per model in each comparison")
    ap.add_argument("--work-dir", type=Path, help="vLLM: keep training data, registry and logs here")
    args = ap.parse_args(argv)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not args.parts or args.parts - {"stub", "vllm"}:
        ap.error(f"--parts: expected stub, vllm or stub,vllm, got {sorted(args.parts)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.quick:
        args.runs, args.sizes, args.latency_sizes = min(args.runs, 6), args.sizes[:1], (args.latency_sizes[-1],)
    return args


def run_stub(args: argparse.Namespace, progress: Progress) -> list[Outcome]:
    from configs.loader import load_config

    setup = stub.StubSetup(extra_ttft_ms=args.extra_ttft_ms, ttft_jitter=args.ttft_jitter)
    progress(f"==> stub latency: +{setup.extra_ttft_ms:g} ms TTFT on {setup.ttft_ms:g} ms for the slow name, "
             f"jitter sigma {setup.ttft_jitter:g}, {args.runs} runs at {list(args.latency_sizes)} requests/model")
    return stub.latency_runs(setup, load_config(real.TINY).promotion, args.latency_sizes, args.runs, progress,
                             seed=args.seed)


def run_vllm(args: argparse.Namespace, progress: Progress) -> tuple[list[Outcome], dict[str, Any]]:
    """Train twice, register the twin, serve all three on one vLLM (stopped in the end), compare."""
    from configs.loader import load_config
    from tasks.serving import stop_process_tree
    from tasks.training.data import prepare_data

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gate-calibration-"))
    setup = real.VllmSetup(work, args.num_examples, args.weak_steps, args.vllm_requests)
    try:
        cfg = load_config(real.TINY, real.overrides(setup))
        full = real.train(setup, "full", [], progress)
        weak = real.train(setup, "weak", [f"train.max_steps={setup.weak_steps}"], progress)
        versions = {"champion": full["version"], "weak": weak["version"],
                    "twin": real.register_twin(cfg, full["version"], work)}
        eval_path = prepare_data(cfg.data, cfg.paths.datasets_dir).eval_path
        progress(f"==> one vLLM serving versions {versions} of {cfg.mlflow.registered_model_name}")
        served = real.serve(cfg, versions, eval_path, work / "logs")
        try:
            champion, weak_mean, n = real.pool_means(served, work / "pool.jsonl", cfg.eval.max_new_tokens)
            progress(f"    whole held-out pool ({n} items), exact match: champion {champion:.3f}, "
                     f"weak candidate {weak_mean:.3f}")
            if weak_mean >= champion:
                progress("    WARNING: the weak candidate is not worse on the pool; raise --weak-steps' gap")
            info = {"pool_items": n, "pool_champion_exact_match": champion, "pool_weak_exact_match": weak_mean,
                    "versions": versions, "weak_steps": setup.weak_steps, "vllm_requests": setup.requests}
            progress(f"==> quality (and latency) head to head: {args.runs} runs at {list(args.sizes)} items")
            return real.quality_runs(served, cfg, setup, args.sizes, args.runs, progress, seed=args.seed), info
        finally:
            if served.pid:
                stop_process_tree(served.pid, cfg.serving.stop_timeout_s)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def verdict_lines(rows: list[Row]) -> list[str]:
    """The targets: A/A says worse in <= 10% of runs; A/B rejected in >= 80% at some size."""
    lines = [f"{r.scenario} {r.size}: new gate rejected on quality {r.by_quality}, on latency {r.by_latency}"
             for r in rows if r.scenario in (real.AA, real.AB)]
    for scenario in dict.fromkeys(r.scenario for r in rows):
        mine = [r for r in rows if r.scenario == scenario]
        if EXPECTED[scenario] == "pass":
            ok = [r.size for r in mine if r.new_worse.value <= 0.10]
            lines.append(f"{scenario}: false 'worse' <= 10% at sizes {ok or 'none'}; "
                         f"any rejection <= 10% at sizes {[r.size for r in mine if r.new_reject.value <= 0.10] or 'none'}")
        else:
            ok = [r.size for r in mine if r.new_reject.value >= 0.80]
            lines.append(f"{scenario}: rejected in >= 80% of runs at sizes {ok or 'none'} (smallest: "
                         f"{min(ok) if ok else 'none'}); old gate at sizes "
                         f"{[r.size for r in mine if r.old_reject.value >= 0.80] or 'none'}")
    return lines


def main(argv: list[str] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    say = progress or (lambda line: print(line, flush=True))
    started = time.monotonic()
    outcomes: list[Outcome] = []
    info: dict[str, Any] = {}
    if "vllm" in args.parts:
        got, info = run_vllm(args, say)
        outcomes += got
    if "stub" in args.parts:
        outcomes += run_stub(args, say)
    rows = summarize(outcomes)
    text = table(rows, EXPECTED)
    say("")
    say(text)
    for line in verdict_lines(rows):
        say(line)
    wall_s = time.monotonic() - started
    say(f"wall time {wall_s:.0f} s")
    report = {"argv": sys.argv[1:] if argv is None else argv, "runs": args.runs, "sizes": list(args.sizes),
              "latency_sizes": list(args.latency_sizes), "vllm": info, "summary": [r.to_dict() for r in rows],
              "table": text, "decisions": [o.to_dict() for o in outcomes], "wall_s": wall_s}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return report


if __name__ == "__main__":
    main()
