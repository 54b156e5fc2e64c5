"""The paired bootstrap the head-to-head gate decides on: reproducible, calibrated, paired."""

from __future__ import annotations

import math

import numpy as np
import pytest

from configs.errors import PromotionError
from tasks.promotion.bootstrap import (detectable, metric_seed, paired_difference, paired_ratio,
                                       quality_detectable, ratio_detectable)

KW = {"confidence": 0.95, "resamples": 2000}


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    first, again = paired_difference(a, b, **KW, seed=7), paired_difference(a, b, **KW, seed=7)
    other = paired_difference(a, b, **KW, seed=8)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == other.estimate == pytest.approx(float(np.mean(b - a)))
    lat_a, lat_b = rng.lognormal(4, 0.5, 150), rng.lognormal(4, 0.5, 150)
    assert paired_ratio(lat_a, lat_b, "p95", **KW, seed=3) == paired_ratio(lat_a, lat_b, "p95", **KW, seed=3)


def test_metric_seeds_are_fixed_and_distinct() -> None:
    assert metric_seed(0, "exact_match") == metric_seed(0, "exact_match")
    seeds = {metric_seed(0, m) for m in ("exact_match", "json_valid", "median_ttft", "p95_ttft")}
    assert len(seeds) == 4
    assert metric_seed(-1, "x")[0] >= 0  # a negative config seed still seeds numpy


def test_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    """200 simulated paired datasets with a known true difference of +0.05 in success rate."""
    rng = np.random.default_rng(123)
    covered = 0
    for i in range(200):
        skill = rng.uniform(0, 1, 150)  # per-item difficulty, shared by both sides: the pairing
        champion = (rng.uniform(0, 1, 150) < 0.45 + 0.3 * skill).astype(float)
        candidate = (rng.uniform(0, 1, 150) < 0.50 + 0.3 * skill).astype(float)
        d = paired_difference(champion, candidate, **KW, seed=i)
        covered += d.low <= 0.05 <= d.high
    assert 0.88 <= covered / 200 <= 0.99


def test_ratio_interval_covers_the_true_ratio_of_medians_and_is_not_needlessly_wide() -> None:
    """Lognormal latencies, candidate = champion x 1.1 x lognormal noise: the population medians
    are exactly 1.1 apart. The bootstrap of a median is known to run a little conservative."""
    rng = np.random.default_rng(7)
    covered, logs, widths = 0, [], []
    for i in range(100):
        champion = rng.lognormal(4.5, 0.5, 200)
        r = paired_ratio(champion, champion * 1.1 * rng.lognormal(0, 0.3, 200), "median", **KW, seed=i)
        covered += r.low <= 1.1 <= r.high
        logs.append(math.log(r.estimate))
        widths.append(math.log(r.high) - math.log(r.low))
    assert 0.88 <= covered / 100 <= 1.0
    assert float(np.mean(widths)) < 1.3 * 2 * 1.96 * float(np.std(logs))  # vs the estimates' real spread


def test_known_shift_is_detected_and_no_shift_is_not() -> None:
    rng = np.random.default_rng(5)
    champion = rng.uniform(0.3, 0.9, 300)
    shifted = paired_difference(champion, champion + 0.1 + rng.normal(0, 0.05, 300), **KW, seed=0)
    assert 0.09 < shifted.estimate < 0.11 and shifted.low > 0.08 and shifted.high < 0.12
    same = paired_difference(champion, champion + rng.normal(0, 0.05, 300), **KW, seed=0)
    assert same.low < 0 < same.high


def test_pairing_narrows_the_interval_compared_with_unpaired_noise() -> None:
    """Item difficulty shared by both sides cancels in the paired difference."""
    rng = np.random.default_rng(9)
    difficulty = rng.uniform(0, 1, 200)
    paired = paired_difference(difficulty, difficulty + 0.02, **KW, seed=0)
    assert paired.high - paired.low < 1e-9 and paired.estimate == pytest.approx(0.02)
    unpaired = paired_difference(difficulty, rng.permutation(difficulty) + 0.02, **KW, seed=0)
    assert unpaired.high - unpaired.low > 0.05


@pytest.mark.parametrize("stat", ["median", "p95"])
def test_ratio_of_exactly_scaled_samples_is_the_scale_with_a_tight_interval(stat: str) -> None:
    champion = np.random.default_rng(2).lognormal(5, 0.6, 200)
    r = paired_ratio(champion, 1.2 * champion, stat, **KW, seed=0)
    assert r.estimate == pytest.approx(1.2)
    assert r.low == pytest.approx(1.2) and r.high == pytest.approx(1.2)
    assert r.se == pytest.approx(0.0, abs=1e-9) and r.n == 200


def test_ratio_interval_brackets_a_noisy_slowdown() -> None:
    rng = np.random.default_rng(4)
    champion = rng.lognormal(5, 0.4, 400)
    candidate = champion * 1.3 * rng.lognormal(0, 0.05, 400)
    r = paired_ratio(champion, candidate, "median", **KW, seed=0)
    assert 1.25 < r.low < r.estimate < r.high < 1.36
    assert r.se > 0


def test_detectable_is_the_z_sum_times_se_and_quality_is_floored_at_one_item() -> None:
    assert detectable(0.01, 0.95, 0.8) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-5)
    assert detectable(0.01, 0.90, 0.8) < detectable(0.01, 0.95, 0.8) < detectable(0.01, 0.95, 0.9)
    assert quality_detectable(0.0, 50, 0.95, 0.8) == pytest.approx(1 / 50)  # all-equal scores
    assert quality_detectable(0.05, 50, 0.95, 0.8) == pytest.approx(detectable(0.05, 0.95, 0.8))
    assert ratio_detectable(0.02, 0.95, 0.8) == pytest.approx(math.exp(2.801585 * 0.02) - 1, rel=1e-5)


def test_more_pairs_shrink_the_detectable_difference() -> None:
    rng = np.random.default_rng(11)
    small = paired_difference(rng.integers(0, 2, 50), rng.integers(0, 2, 50), **KW, seed=0)
    large = paired_difference(rng.integers(0, 2, 800), rng.integers(0, 2, 800), **KW, seed=0)
    assert quality_detectable(large.se, 800, 0.95, 0.8) < quality_detectable(small.se, 50, 0.95, 0.8) / 2


@pytest.mark.parametrize(("champion", "candidate", "message"), [
    ([], [], "no pairs"),
    ([1.0, 0.0], [1.0], "2 champion values but 1 candidate"),
    ([1.0, float("nan")], [1.0, 0.0], "champion has 1 NaN"),
    ([1.0, 0.0], [float("inf"), 0.0], "candidate has 1 NaN/infinite value"),
])
def test_degenerate_input_is_a_promotion_error_naming_the_problem(champion, candidate, message) -> None:
    with pytest.raises(PromotionError, match=message):
        paired_difference(champion, candidate, **KW, seed=0)
    with pytest.raises(PromotionError, match=message):
        paired_ratio(champion, candidate, "median", **KW, seed=0)


def test_ratio_rejects_an_unknown_statistic_and_a_zero_champion() -> None:
    with pytest.raises(PromotionError, match="unknown statistic 'p99'"):
        paired_ratio([1.0, 2.0], [1.0, 2.0], "p99", **KW, seed=0)
    with pytest.raises(PromotionError, match="champion's median is 0"):
        paired_ratio([0.0, 0.0, 1.0], [1.0, 1.0, 1.0], "median", **KW, seed=0)
    mostly_zero = [0.0] * 45 + [1.0] * 55  # a median of 1, but of 0 in many resamples
    with pytest.raises(PromotionError, match="some resamples have a champion or candidate median of 0.*drop it"):
        paired_ratio(mostly_zero, mostly_zero, "median", **KW, seed=0)
    with pytest.raises(PromotionError, match="must be >= 0"):
        paired_ratio([1.0, 2.0], [-1.0, 2.0], "median", **KW, seed=0)


def test_many_resamples_of_a_large_sample_stay_within_bounded_blocks() -> None:
    """50,000 resamples x 500 pairs (25 M indices) run in blocks and give the same estimate."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0.2, 1, 500)
    big = paired_difference(a, b, confidence=0.95, resamples=50_000, seed=0)
    small = paired_difference(a, b, confidence=0.95, resamples=2000, seed=0)
    assert big.estimate == small.estimate
    assert big.low == pytest.approx(small.low, abs=0.03) and big.high == pytest.approx(small.high, abs=0.03)
