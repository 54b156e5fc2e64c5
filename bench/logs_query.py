"""`mlops logs query` vs the `jq -s` recipe, side by side on one generated 1M-line log folder.

    python bench/logs_query.py [--lines 1000000] [--dir /tmp/mlops-bench-logs]

Writes (once; reused if present) `lines` inference lines with the typed InferenceLogger on a
simulated clock (two models), then for avg, max and p95 of latency_ms per model runs both
tools as fresh processes, checks they print the same numbers, and prints times, peak memory
and the speed-up. Target: at least 5x faster than jq, same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEL = '{job="inference"} |= "inference_response" | json | message="inference_response" | unwrap latency_ms'
QUERIES = {
    "avg": (f"avg_over_time({SEL} [2h]) by (model_name)", "map(.latency_ms) | add / length"),
    "max": (f"max_over_time({SEL} [2h]) by (model_name)", "map(.latency_ms) | max"),
    "p95": (f"quantile_over_time(0.95, {SEL} [2h]) by (model_name)",
            "(map(.latency_ms) | sort) as $s | ($s | length) as $n | (0.95 * ($n - 1)) as $r | ($r | floor) as $lo"
            " | ($r - $lo) as $w | $s[$lo] * (1 - $w) + $s[[$lo + 1, $n - 1] | min] * $w"),
}


def jq_program(agg: str) -> str:
    return ('map(select(.message == "inference_response")) | group_by(.model_name) '
            f'| map({{model: .[0].model_name, value: ({agg})}})')


def generate(root: Path, lines: int) -> int:
    """Half requests, half responses; returns the simulated end time (ms)."""
    from logging_lib import InferenceLogger
    from testkit.clock import SimClock

    rng = random.Random(1)
    start = int(time.time() * 1000) // 1000 * 1000
    requests = lines // 2
    step_ms = max(1, 3_600_000 // requests)
    clock = SimClock(start)
    # one hour of traffic written in seconds: the logger takes its timestamps from `clock`
    log = InferenceLogger("bench_gateway", root, clock=clock.iso)
    for i in range(requests):
        clock.now_ms = start + i * step_ms
        rid = "req_%012x" % rng.getrandbits(48)
        model = "ft-model" if i % 3 == 0 else "base-model"
        log.log_request(rid, "What is machine learning?", model)
        latency = round(rng.lognormvariate(5.5, 0.5), 2)
        log.log_response(rid, latency_ms=latency, tokens_generated=rng.randint(10, 200), model_name=model,
                         ttft_ms=round(latency * 0.2, 2), prompt_tokens=12)
    log.close()
    end = start + requests * step_ms
    for p in root.rglob("*.log"):
        os.utime(p, (end / 1000, end / 1000))
    (root / "END_MS").write_text(str(end))
    return end


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float, float, float]:
    """stdout, wall seconds, CPU seconds (user+sys) and peak RSS (MiB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    usage = proc.rusage if hasattr(proc, "rusage") else None  # filled by _Popen below
    return out.decode(), wall, usage[0], usage[1]  # type: ignore[index]


class _Popen(subprocess.Popen):
    """Popen that keeps the child's own rusage (wait4), not the sum over all children."""

    def _try_wait(self, wait_flags):  # type: ignore[no-untyped-def]
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.rusage = (ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)
        return pid, sts


subprocess.Popen = _Popen  # type: ignore[misc]


def best(n: int, cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float, float, float]:
    runs = [run(cmd, env) for _ in range(n)]
    return min(runs, key=lambda r: r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mlops-bench-logs"))
    ap.add_argument("--jq", default="/usr/bin/jq")
    args = ap.parse_args()
    root = args.dir.resolve()
    if not (root / "END_MS").exists():
        t0 = time.perf_counter()
        generate(root, args.lines)
        print(f"generated {args.lines} lines in {time.perf_counter() - t0:.1f}s under {root}")
    end_ms = int((root / "END_MS").read_text())
    files = sorted(str(p) for p in (root / "inference").glob("*.log"))
    n_lines = sum(1 for f in files for _ in open(f, "rb"))
    size_mb = sum(os.path.getsize(f) for f in files) / 2**20
    print(f"folder: {root}  inference lines: {n_lines}  ({size_mb:.0f} MiB)  python {sys.version.split()[0]}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print("best wall time of 3 (mlops) and 2 (jq) fresh processes; CPU = user+sys of that run")
    print(f"{'query':6} {'mlops s':>8} {'cpu':>6} {'jq -s s':>8} {'cpu':>6} {'speed-up':>9} {'cpu':>6}  same  "
          "values per model (mlops | jq)")
    worst = float("inf")
    peak = 0.0
    for name, (logql, agg) in QUERIES.items():
        ours_out, ours_s, ours_cpu, ours_rss = best(3, [sys.executable, "-m", "flows.cli", "logs", "query", logql,
                                                        "--log-dir", str(root), "--end", str(end_ms / 1000),
                                                        "--json"], env)
        jq_out, jq_s, jq_cpu, jq_rss = best(2, [args.jq, "-c", "-s", jq_program(agg), *files])
        peak = max(peak, ours_rss)
        ours = {r["metric"]["model_name"]: float(r["value"][1]) for r in json.loads(ours_out)["result"]}
        theirs = {r["model"]: float(r["value"]) for r in json.loads(jq_out)}
        same = ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) <= 1e-9 * max(1.0, abs(theirs[k]))
                                                    for k in ours)
        ratio = jq_s / ours_s
        worst = min(worst, ratio)
        vals = ", ".join(f"{k}={ours[k]:.4f}|{theirs.get(k, float('nan')):.4f}" for k in sorted(ours))
        print(f"{name:6} {ours_s:8.2f} {ours_cpu:6.2f} {jq_s:8.2f} {jq_cpu:6.2f} {ratio:8.1f}x {jq_cpu / ours_cpu:5.1f}x"
              f"  {'yes' if same else 'NO':4}  {vals}")
        if not same:
            raise SystemExit(f"{name}: numbers differ: mlops {ours} vs jq {theirs}")
        print(f"       peak RSS: mlops {ours_rss:.0f} MiB, jq -s {jq_rss:.0f} MiB")
    print(f"slowest speed-up {worst:.1f}x (target >= 5x): {'PASS' if worst >= 5 else 'FAIL'}")
    print(f"load average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
