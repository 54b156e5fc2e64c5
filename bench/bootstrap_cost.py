"""What the head-to-head bootstrap costs: the vectorised paired bootstrap
(tasks/promotion/bootstrap.py) next to the same resampling written as a Python loop over
resamples, at a few sample sizes. Both draw from the same seeded generator, so the intervals
agree; the ratio column is loop time / vectorised time.

    PYTHONPATH=. .venv/bin/python bench/bootstrap_cost.py [--pairs 100,300,1000] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from tasks.promotion.bootstrap import paired_difference, paired_ratio


def loop_difference(a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    rng, diff = np.random.default_rng(seed), b - a
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)]
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def loop_ratio(a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    rng, ratios = np.random.default_rng(seed), []
    for _ in range(resamples):
        idx = rng.integers(0, len(a), len(a))
        ratios.append(np.quantile(b[idx], 0.95) / np.quantile(a[idx], 0.95))
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


def best_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default="100,300,1000")
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'statistic':<22}{'pairs':>7}{'vectorised ms':>15}{'loop ms':>10}{'loop/vec':>10}{'same interval':>15}")
    for n in (int(x) for x in args.pairs.split(",")):
        scores_a, scores_b = rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float)
        lat_a = rng.lognormal(5, 0.5, n)
        lat_b = lat_a * rng.lognormal(0.05, 0.1, n)
        kw = {"confidence": 0.95, "resamples": args.resamples, "seed": 0}
        cases = (("mean difference", lambda: paired_difference(scores_a, scores_b, **kw),
                  lambda: loop_difference(scores_a, scores_b, args.resamples, 0)),
                 ("p95 ratio", lambda: paired_ratio(lat_a, lat_b, "p95", **kw),
                  lambda: loop_ratio(lat_a, lat_b, args.resamples, 0)))
        for name, vectorised, loop in cases:
            vec_ms, loop_ms = best_ms(vectorised), best_ms(loop, repeats=1)
            got = vectorised()
            same = np.allclose((got.low, got.high), loop(), rtol=1e-12)
            print(f"{name:<22}{n:>7}{vec_ms:>15.1f}{loop_ms:>10.1f}{loop_ms / vec_ms:>9.1f}x{str(same):>15}")


if __name__ == "__main__":
    main()
