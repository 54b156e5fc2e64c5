"""The unpaired bootstrap `mlops bench compare` uses for two result files: calibrated,
reproducible, and it resamples each run on its own (the runs need not have the same size)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from configs.errors import PromotionError
from tasks.promotion.bootstrap import metric_seed, statistic, unpaired_ratio

KW = {"confidence": 0.95, "resamples": 2000}


@pytest.mark.parametrize("stat", ["median", "p95"])
def test_interval_covers_the_true_ratio_about_95_percent_of_the_time(stat: str) -> None:
    """200 simulated pairs of runs whose true ratio is 1.2 (lognormal latencies, unequal sizes)."""
    rng = np.random.default_rng(7)
    covered = 0
    for i in range(200):
        base = rng.lognormal(math.log(20), 0.4, 150)
        cand = rng.lognormal(math.log(20 * 1.2), 0.4, 120)
        r = unpaired_ratio(base, cand, stat, **KW, seed=i)
        covered += r.low <= 1.2 <= r.high
    assert 0.88 <= covered / 200 <= 0.99, covered


def test_estimate_is_the_full_sample_ratio_and_seeds_reproduce() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(3, 0.5, 80), rng.lognormal(3.5, 0.5, 200)
    first = unpaired_ratio(a, b, "p95", **KW, seed=metric_seed(0, "p95_ttft"))
    assert first == unpaired_ratio(a, b, "p95", **KW, seed=metric_seed(0, "p95_ttft"))
    other = unpaired_ratio(a, b, "p95", **KW, seed=metric_seed(1, "p95_ttft"))
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == pytest.approx(float(statistic(b, "p95")) / float(statistic(a, "p95")))
    assert first.low < first.estimate < first.high
    assert first.n == 80


def test_identical_runs_give_an_interval_around_one_clearly_different_runs_exclude_it() -> None:
    rng = np.random.default_rng(11)
    a = rng.lognormal(3, 0.3, 100)
    same = unpaired_ratio(a, a.copy(), "median", **KW, seed=0)
    assert same.estimate == 1.0 and same.low < 1.0 < same.high
    slower = unpaired_ratio(a, a * 2, "median", **KW, seed=0)
    assert slower.estimate == pytest.approx(2.0) and slower.low > 1.0


@pytest.mark.parametrize(("base", "cand", "match"), [
    ([], [1.0], "baseline needs a non-empty"),
    ([1.0], [2.0, float("nan")], "candidate has 1 negative, NaN"),
    ([1.0, -1.0], [2.0], "baseline has 1 negative"),
    ([0.0, 0.0], [1.0], "baseline's median is 0"),
])
def test_bad_samples_are_named(base: list[float], cand: list[float], match: str) -> None:
    with pytest.raises(PromotionError, match=match):
        unpaired_ratio(base, cand, "median", **KW, seed=0)


def test_unknown_statistic_is_named() -> None:
    with pytest.raises(PromotionError, match="unknown statistic 'p50'"):
        unpaired_ratio([1.0], [1.0], "p50", **KW, seed=0)
