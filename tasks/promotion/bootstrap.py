"""Seeded paired bootstrap: the intervals head-to-head promotion decides on.

Champion and candidate answer the same items (quality) and the same prompts (latency), so the
two samples are paired: resampling pair indices jointly keeps each item's difficulty (or each
prompt's length) on both sides and the interval reflects only the difference between the
models. All resamples are drawn as one index matrix (in row blocks to bound memory), so 2,000
resamples of a few hundred pairs take milliseconds.

    d = paired_difference(champ_scores, cand_scores, confidence=0.95, resamples=2000, seed=0)
    r = paired_ratio(champ_ttft, cand_ttft, "p95", confidence=0.95, resamples=2000, seed=1)
    d.low, d.high, d.se          # mean candidate - champion, percentile interval, bootstrap SE
    r.estimate, r.se             # p95 candidate / champion; `se` is that of the log ratio

Two runs that did not send the same prompts in pairs (`mlops bench compare` of two result
files) are not paired: `unpaired_ratio` resamples each side's requests on its own.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from configs.errors import PromotionError

STATS = ("median", "p95")
_BLOCK_CELLS = 4_000_000  # index-matrix cells per block (~32 MB of int64)
_ZERO_HINT = ("; a latency that is 0 by design (a server without per-token delay) cannot be compared as a "
              "ratio: drop it from promotion.latency_metrics")


@dataclass(frozen=True)
class Interval:
    """A bootstrap estimate: `low`/`high` the percentile interval; `se` the bootstrap standard
    error (of the difference, or for a ratio of its log); `n` the pairs it rests on."""

    estimate: float
    low: float
    high: float
    se: float
    n: int


def metric_seed(seed: int, metric: str) -> tuple[int, int]:
    """A fixed seed per metric, distinct across metrics: one shared stream would correlate the
    metrics' intervals by construction (the same resampled items for every metric)."""
    return seed % 2**63, zlib.crc32(metric.encode("utf-8"))


def _pairs(champion: Sequence[float], candidate: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(champion, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise PromotionError(f"{what}: champion and candidate must be flat sequences of numbers")
    if len(a) != len(b):
        raise PromotionError(f"{what}: {len(a)} champion values but {len(b)} candidate values; "
                             "a paired comparison needs one of each per item/prompt")
    if len(a) == 0:
        raise PromotionError(f"{what}: no pairs to compare; both sides need at least one scored item/request")
    for side, arr in (("champion", a), ("candidate", b)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise PromotionError(f"{what}: the {side} has {bad.size} NaN/infinite value(s) (first at pair "
                                 f"{int(bad[0])}); drop or fix those items before comparing")
    return a, b


def _resampled(n: int, resamples: int, seed: int | Sequence[int],
               reduce: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`reduce(idx)` over `resamples` rows of n pair indices drawn with replacement."""
    if resamples < 1:
        raise PromotionError(f"bootstrap resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_CELLS // n)
    out = [reduce(rng.integers(0, n, size=(min(rows, resamples - start), n)))
           for start in range(0, resamples, rows)]
    return np.concatenate(out)


def _bounds(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise PromotionError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_difference(champion: Sequence[float], candidate: Sequence[float], *, confidence: float,
                      resamples: int, seed: int | Sequence[int]) -> Interval:
    """Mean of candidate - champion over the pairs, its percentile interval and bootstrap SE."""
    a, b = _pairs(champion, candidate, "paired difference")
    diff = b - a
    means = _resampled(len(diff), resamples, seed, lambda idx: diff[idx].mean(axis=1))
    low, high = _bounds(means, confidence)
    se = float(means.std(ddof=1)) if len(means) > 1 else 0.0
    return Interval(float(diff.mean()), low, high, se, len(diff))


def statistic(values: np.ndarray, stat: str, axis: int | None = None) -> np.ndarray | float:
    """`median` or `p95` (linear interpolation, as the benchmark's metrics compute percentiles)."""
    if stat == "median":
        return np.median(values, axis=axis)
    if stat == "p95":
        return np.quantile(values, 0.95, axis=axis)
    raise PromotionError(f"unknown statistic {stat!r}; use one of {list(STATS)}")


def paired_ratio(champion: Sequence[float], candidate: Sequence[float], stat: str, *, confidence: float,
                 resamples: int, seed: int | Sequence[int]) -> Interval:
    """`stat` of candidate / `stat` of champion, resampling pairs jointly; `estimate` is the ratio
    on the full sample, `se` the bootstrap SE of the log ratio (for `ratio_detectable`)."""
    if stat not in STATS:
        raise PromotionError(f"unknown statistic {stat!r}; use one of {list(STATS)}")
    a, b = _pairs(champion, candidate, f"{stat} ratio")
    if (a < 0).any() or (b < 0).any():
        raise PromotionError(f"{stat} ratio: latencies must be >= 0; got a negative value")
    base = float(statistic(a, stat))
    if base <= 0:
        raise PromotionError(f"{stat} ratio: the champion's {stat} is 0, so no ratio to it exists{_ZERO_HINT}")

    def ratios(idx: np.ndarray) -> np.ndarray:
        return statistic(b[idx], stat, axis=1) / statistic(a[idx], stat, axis=1)

    with np.errstate(divide="ignore", invalid="ignore"):
        boot = _resampled(len(a), resamples, seed, ratios)
    if not np.isfinite(boot).all() or (boot <= 0).any():
        raise PromotionError(f"{stat} ratio: some resamples have a champion or candidate {stat} of 0 "
                             f"(too many zero latencies for a ratio){_ZERO_HINT}")
    low, high = _bounds(boot, confidence)
    logs = np.log(boot)
    se = float(logs.std(ddof=1)) if len(logs) > 1 else 0.0
    return Interval(float(statistic(b, stat)) / base, low, high, se, len(a))


def detectable(se: float, confidence: float, power: float) -> float:
    """The smallest true effect this sample detects: (z_{1-a/2} + z_power) * se.

    Why: with estimates spread ~N(effect, se), a two-sided test at level a rejects "no change"
    once |estimate| > z_{1-a/2} * se; for it to do so with probability `power` the true effect
    must sit z_power standard errors beyond that line. A gate that cannot tell a real effect of
    this size from noise should say so rather than read "no difference" as "no effect"."""
    if se < 0 or not math.isfinite(se):
        raise PromotionError(f"standard error must be finite and >= 0, got {se}")
    if not 0 < confidence < 1 or not 0 < power < 1:
        raise PromotionError(f"confidence and power must be in (0, 1), got {confidence} and {power}")
    z = NormalDist()
    return (z.inv_cdf(1 - (1 - confidence) / 2) + z.inv_cdf(power)) * se


def quality_detectable(se: float, n: int, confidence: float, power: float) -> float:
    """`detectable` for a mean score difference, floored at 1/n: n items cannot resolve less
    (and all-equal scores give se 0, which would claim any effect is detectable)."""
    return max(detectable(se, confidence, power), 1.0 / n)


def ratio_detectable(log_se: float, confidence: float, power: float) -> float:
    """`detectable` for a latency ratio, as ratio - 1: the effect is found on the log scale
    (where a ratio's sampling spread is symmetric) and mapped back (0.07 = a 7% slowdown)."""
    return math.expm1(detectable(log_se, confidence, power))


def _sample(values: Sequence[float], what: str, side: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or len(arr) == 0:
        raise PromotionError(f"{what}: the {side} needs a non-empty flat sequence of numbers")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise PromotionError(f"{what}: the {side} has {bad.size} negative, NaN or infinite value(s) (first at "
                             f"request {int(bad[0])}); latencies must be finite and >= 0")
    return arr


def unpaired_ratio(baseline: Sequence[float], candidate: Sequence[float], stat: str, *, confidence: float,
                   resamples: int, seed: int | Sequence[int]) -> Interval:
    """`stat` of candidate / `stat` of baseline for two independent samples (sizes may differ):
    each side's values are resampled on their own, with its own stream drawn from `seed`, and
    the ratios of the resampled statistics give the percentile interval. `n` is the smaller side."""
    if stat not in STATS:
        raise PromotionError(f"unknown statistic {stat!r}; use one of {list(STATS)}")
    what = f"{stat} ratio"
    a, b = _sample(baseline, what, "baseline"), _sample(candidate, what, "candidate")
    base = float(statistic(a, stat))
    if base <= 0:
        raise PromotionError(f"{what}: the baseline's {stat} is 0, so no ratio to it exists")
    seeds = [int(s) % 2**63 for s in (seed if isinstance(seed, Sequence) else [seed])]
    stat_a = _resampled(len(a), resamples, [*seeds, 0], lambda idx: statistic(a[idx], stat, axis=1))
    stat_b = _resampled(len(b), resamples, [*seeds, 1], lambda idx: statistic(b[idx], stat, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = stat_b / stat_a
    if not np.isfinite(boot).all() or (boot <= 0).any():
        raise PromotionError(f"{what}: some resamples have a baseline or candidate {stat} of 0 "
                             "(too many zero latencies for a ratio)")
    low, high = _bounds(boot, confidence)
    logs = np.log(boot)
    se = float(logs.std(ddof=1)) if len(logs) > 1 else 0.0
    return Interval(float(statistic(b, stat)) / base, low, high, se, min(len(a), len(b)))
