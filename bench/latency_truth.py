"""Whose time is it? Three benchmark clients against one server that records its own truth.

In ONE run, against the same stub (its own process; it records per request when it read the
request and wrote the first token, `GET /truth`, testkit/truth.py), at the same open-loop rate
and the same work per request (TOKENS streamed tokens), each client in its own process:

- before: our client loop as it was before issue 14 (bench/_client_before.py, frozen): TTFT
  counted from the planned send time, a 1.5 ms busy-wait before each send, the collector free
  to run mid-send;
- after: our client today (tasks/benchmark/runner.py), logging as `mlops bench` does;
- vllm: `vllm bench serve` (vLLM's own client, `.venv-vllm`, bench/_vllm_bench.py) with
  `--save-result --save-detailed`, request ids `PREFIX<i>` so its samples meet the truth.

Per client: median and p99 of (client TTFT - the server's truth TTFT), from the actual send
("actual", vLLM's definition, what `mean_ttft_ms`... now report) and, for ours, from the
planned send time ("sched", what the old `*_ttft_ms` reported, `*_sched_ttft_ms` now); the send
lag p50/p99; our client's CPU per request. Repeated REPEATS times, the order rotated each time
(the machine is shared and noisy): the median of the repeats and their range [min, max].

    python bench/latency_truth.py [--rate 200] [--seconds 8] [--repeats 3] [--tokens 16] [--burners 1]

`--burners N` keeps N more processes spinning for the whole run: a server that computes (as
vLLM's engine does) on the same 2 cores, so the client's own CPU per request decides how late it
gets; the stub alone leaves a core idle.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._procs import REPO, start_stub, stop  # noqa: E402
from bench._truth_clients import gaps  # noqa: E402
from testkit.truth import fetch_truth  # noqa: E402

try:
    from bench._vllm_bench import run_vllm_bench, stub_tokenizer  # noqa: E402  (comes with `mlops bench compare`)
except ImportError as exc:  # a checkout without it: say what is missing instead of a traceback
    raise SystemExit(f"bench/latency_truth.py needs bench/_vllm_bench.py (vLLM's client runner): {exc}") from exc

CLIENTS = ("before", "after", "vllm")
STATS = ("actual_p50", "actual_p99", "sched_p50", "sched_p99", "lag_p50", "lag_p99", "cpu_us")


def run_ours(which: str, url: str, prefix: str, rate: float, n: int, tokens: int, tmp: Path) -> dict:
    out = tmp / f"{prefix}.json"
    subprocess.run([sys.executable, "-m", "bench._truth_clients", which, url, prefix, str(rate), str(n), str(tokens),
                    str(out)], cwd=REPO, check=True)
    return json.loads(out.read_text())


def run_vllm(url: str, prefix: str, rate: float, n: int, tokens: int, tmp: Path, tok: Path) -> dict:
    path = run_vllm_bench(url, "stub-model", n, rate, tmp / prefix, ("--request-id-prefix", prefix, "--seed", "1"),
                          tokenizer=tok, input_len=16, output_len=tokens, endpoint="chat", timeout_s=600)
    d = json.loads(path.read_text())
    rows = [{"request_id": f"{prefix}{i}", "success": not err, "ttft_ms": t * 1000, "e2el_ms": lat * 1000}
            for i, (t, lat, err) in enumerate(zip(d["ttfts"], d["latencies"], d["errors"]))]
    return {"cpu_s": None, "requests": rows}


def one_repeat(k: int, url: str, a: argparse.Namespace, tmp: Path, tok: Path) -> dict[str, dict]:
    n = int(a.rate * a.seconds)
    order = CLIENTS[k % 3:] + CLIENTS[:k % 3]
    runs = {}
    for which in order:
        prefix = f"{which}-r{k}-"
        print(f"  repeat {k + 1}: {which} ({n} requests at {a.rate:g}/s)", file=sys.stderr, flush=True)
        runs[which] = (run_vllm(url, prefix, a.rate, n, a.tokens, tmp, tok) if which == "vllm"
                       else run_ours(which, url, prefix, a.rate, n, a.tokens, tmp))
    truth = fetch_truth(url)
    return {which: gaps(run, truth) for which, run in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--ttft-ms", type=float, default=20.0)
    ap.add_argument("--itl-ms", type=float, default=5.0)
    ap.add_argument("--burners", type=int, default=0, help="CPU-bound processes beside the stub (a busy server)")
    a = ap.parse_args()
    proc, url = start_stub(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, output_tokens=a.tokens)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            tok = stub_tokenizer(tmp / "tok")
            reps = [one_repeat(k, url, a, tmp, tok) for k in range(a.repeats)]
    finally:
        for b in burners:
            stop(b)
        stop(proc)
    report(reps, a)


def _cell(reps: list[dict], which: str, stat: str) -> str:
    vals = [r[which][stat] for r in reps if stat in r[which]]
    if not vals:
        return f"{'n/a':>19}"
    if stat == "cpu_us":
        return f"{np.median(vals):.0f} [{min(vals):.0f},{max(vals):.0f}]".rjust(19)
    return f"{np.median(vals):.2f} [{min(vals):.1f},{max(vals):.1f}]".rjust(19)


def report(reps: list[dict], a: argparse.Namespace) -> None:
    print(f"stub server (own process): TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.tokens} tokens; "
          f"{a.rate:g} req/s for {a.seconds:g} s ({int(a.rate * a.seconds)} requests) per client; {len(reps)} repeats, "
          f"order rotated; {a.burners} CPU burner(s) beside it; median [min,max] over repeats; ms unless noted")
    print("gap = client TTFT - server's truth TTFT; actual: from the actual send (vLLM's definition); "
          "sched: from the planned send time")
    print(f"{'client':<8}" + "".join(f"{s:>19}" for s in STATS))
    for which in CLIENTS:
        print(f"{which:<8}" + "".join(_cell(reps, which, s) for s in STATS))

    def ratio(stat: str) -> str:
        b = [r["before"][stat] for r in reps]
        f = [r["after"][stat] for r in reps]
        per = [x / y for x, y in zip(b, f) if y > 0]
        return f"{np.median(per):.2f}x [{min(per):.2f},{max(per):.2f}]" if per else "n/a"

    print("before/after (per repeat, median [min,max]): " + ", ".join(
        f"{s} {ratio(s)}" for s in ("sched_p99", "actual_p99", "lag_p99", "cpu_us")))
    v = [r["vllm"]["actual_p99"] for r in reps]
    print(f"p99 gap reported as TTFT: before (old keys, sched) {np.median([r['before']['sched_p99'] for r in reps]):.2f}"
          f" ms, after (vLLM-compatible keys, actual) {np.median([r['after']['actual_p99'] for r in reps]):.2f} ms, "
          f"vllm {np.median(v):.2f} ms")


if __name__ == "__main__":
    main()
