"""Turns the head-to-head measurement files into one `Comparison` (pure: files in, value out).

    quality = read_rows(run_dir / "quality_items.jsonl")     # tasks/benchmark/quality.py::item_rows
    latency = read_rows(latency_file)     # the interleaved run: one row per request, both sides
    c = build_comparison(quality, latency, cfg, champion="bot-v3", candidate="bot-v4",
                         champion_version="3", candidate_version="4")
    write_comparison(c, run_dir / "comparison.json")

Quality: per item, the candidate's score minus the champion's, mean and paired bootstrap
interval per metric. Latency: per prompt (sent once to each side), the ratio candidate /
champion of each statistic (median, p95) of TTFT, TPOT, E2EL. Each metric is bootstrapped with
its own fixed seed derived from `cfg.bootstrap_seed` and decided by `comparison.judge` alone.
The rows' latencies count from each request's actual send (vLLM's definition), so the load
generator's own lateness, which belongs to neither side, stays out of the ratios.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from configs.errors import PromotionError
from configs.promotion import PromotionConfig
from tasks.promotion.bootstrap import (metric_seed, paired_difference, paired_ratio, quality_detectable,
                                       ratio_detectable, statistic)
from tasks.promotion.comparison import LATENCY, QUALITY, Comparison, MetricComparison, judge

Row = dict[str, Any]
SIDES = ("champion", "candidate")


def _quality_metric(name: str, champion: list[float], candidate: list[float],
                    cfg: PromotionConfig) -> MetricComparison:
    d = paired_difference(champion, candidate, confidence=cfg.confidence, resamples=cfg.bootstrap_resamples,
                          seed=metric_seed(cfg.bootstrap_seed, name))
    bound = -cfg.margin(name)
    verdict, passed = judge(QUALITY, d.low, d.high, bound)
    return MetricComparison(
        metric=name, kind=QUALITY, champion_value=sum(champion) / d.n, candidate_value=sum(candidate) / d.n,
        estimate=d.estimate, low=d.low, high=d.high, bound=bound, verdict=verdict, passed=passed, n=d.n,
        advisory=name in cfg.advisory_metrics,
        detectable=quality_detectable(d.se, d.n, cfg.confidence, cfg.power))


def _check_sides(rows: Sequence[Row], sides: tuple[str, str]) -> None:
    for side in sides:
        missing = [i for i, row in enumerate(rows) if f"{side}_prediction" not in row]
        if missing:
            raise PromotionError(
                f"quality items: {len(missing)} of {len(rows)} rows have no {side!r} side "
                f"({side}_prediction missing, first at row {missing[0]}); the quality run must score both "
                f"models on every item")
    ids = [row.get("item_id") for row in rows]
    if len(set(ids)) != len(ids):
        raise PromotionError("quality items: an item_id appears more than once; each item must be one row")


def _number(value: Any, where: str) -> float:
    if isinstance(value, (bool, int, float)):
        return float(value)
    raise PromotionError(f"{where}: {value!r} is not a number")


def _scores(rows: Sequence[Row], side: str, metric: str) -> list[float] | None:
    key = f"{side}_{metric}"
    values = [row.get(key) for row in rows]
    if any(v is None for v in values):
        return None
    return [_number(v, f"quality items: row {i} {key}") for i, v in enumerate(values)]


def compare_quality(rows: Sequence[Row], cfg: PromotionConfig, *, champion_side: str = "champion",
                    candidate_side: str = "tuned") -> list[MetricComparison]:
    """One comparison per metric of `cfg.quality_metrics` that both sides scored on every item
    (the JSON metrics exist only when every reference is a JSON record)."""
    if not rows:
        raise PromotionError("quality items: no items to compare; the quality run wrote an empty file")
    _check_sides(rows, (champion_side, candidate_side))
    out = []
    for name in cfg.quality_metrics:
        champion, candidate = _scores(rows, champion_side, name), _scores(rows, candidate_side, name)
        if champion is not None and candidate is not None:
            out.append(_quality_metric(name, champion, candidate, cfg))
    if not out:
        raise PromotionError(f"quality items: none of {list(cfg.quality_metrics)} is scored on every item for "
                             f"both {champion_side!r} and {candidate_side!r}; set promotion.quality_metrics "
                             "to metrics the eval set has")
    return out


def _by_prompt(rows: Iterable[Row]) -> dict[str, dict[int, Row]]:
    sides: dict[str, dict[int, Row]] = {side: {} for side in SIDES}
    for i, row in enumerate(rows):
        side, index = row.get("side"), row.get("prompt_index")
        if side not in sides:
            raise PromotionError(f"latency rows: row {i} has side {side!r}; expected one of {list(SIDES)}")
        if not isinstance(index, int):
            raise PromotionError(f"latency rows: row {i} has prompt_index {index!r}; expected an integer")
        if index in sides[side]:
            raise PromotionError(f"latency rows: prompt_index {index} was sent to the {side} twice; "
                                 "each prompt goes once to each side")
        sides[side][index] = row
    return sides


def _paired(sides: dict[str, dict[int, Row]], metric: str) -> tuple[list[float], list[float]]:
    """Prompts both sides answered successfully and that have `metric` on both (TPOT is None
    for a one-token answer: that pair is dropped for TPOT only)."""
    champion, candidate = [], []
    key = f"{metric}_ms"
    for index in sorted(sides["champion"].keys() & sides["candidate"].keys()):
        a, b = sides["champion"][index], sides["candidate"][index]
        if a.get("success") and b.get("success") and a.get(key) is not None and b.get(key) is not None:
            champion.append(_number(a[key], f"latency rows: champion prompt {index} {key}"))
            candidate.append(_number(b[key], f"latency rows: candidate prompt {index} {key}"))
    return champion, candidate


def _latency_metric(name: str, stat: str, champion: list[float], candidate: list[float],
                    cfg: PromotionConfig) -> MetricComparison:
    try:
        r = paired_ratio(champion, candidate, stat, confidence=cfg.confidence, resamples=cfg.bootstrap_resamples,
                         seed=metric_seed(cfg.bootstrap_seed, name))
    except PromotionError as exc:
        raise PromotionError(f"latency {name}: {exc}") from exc
    bound = cfg.margin(name)
    verdict, passed = judge(LATENCY, r.low, r.high, bound)
    return MetricComparison(
        metric=name, kind=LATENCY, champion_value=float(statistic(champion, stat)),
        candidate_value=float(statistic(candidate, stat)), estimate=r.estimate, low=r.low, high=r.high,
        bound=bound, verdict=verdict, passed=passed, n=r.n, advisory=name in cfg.advisory_metrics,
        detectable=ratio_detectable(r.se, cfg.confidence, cfg.power))


def compare_latency(rows: Sequence[Row], cfg: PromotionConfig,
                    skipped: dict[str, str] | None = None) -> list[MetricComparison]:
    """One comparison per latency x statistic (`median_ttft`, `p95_ttft`, ...), in that order.

    A metric the rows cannot give (no pair with it, a statistic of 0: e.g. a server that sends
    every token in one chunk has TPOT 0) raises PromotionError, or, when `skipped` is given, is
    left out with its reason recorded there: the gate then decides on the rest and says so,
    instead of failing the whole run on one unmeasurable number. Malformed rows always raise."""
    sides = _by_prompt(rows)
    out = []
    for metric in cfg.latency_metrics:
        champion, candidate = _paired(sides, metric)
        if not champion:
            why = (f"latency rows: no prompt has a {metric} from both sides ({len(sides['champion'])} champion, "
                   f"{len(sides['candidate'])} candidate requests); need successful requests on both"
                   + ("; TPOT needs answers of 2+ tokens, or drop 'tpot' from promotion.latency_metrics"
                      if metric == "tpot" else ""))
            if skipped is None:
                raise PromotionError(why)
            skipped.update({f"{stat}_{metric}": why for stat in cfg.latency_stats})
            continue
        for stat in cfg.latency_stats:
            try:
                out.append(_latency_metric(f"{stat}_{metric}", stat, champion, candidate, cfg))
            except PromotionError as exc:
                if skipped is None:
                    raise
                skipped[f"{stat}_{metric}"] = str(exc)
    return out


def build_comparison(quality_rows: Sequence[Row] | None, latency_rows: Sequence[Row] | None,
                     cfg: PromotionConfig, *, champion: str, candidate: str, champion_version: str | None,
                     candidate_version: str | None) -> Comparison:
    """The whole comparison; either input may be empty (then only the other's metrics)."""
    if not quality_rows and not latency_rows:
        raise PromotionError("head to head: neither quality items nor latency rows; nothing to compare")
    metrics = compare_quality(quality_rows, cfg) if quality_rows else []
    requests = 0
    skipped: dict[str, str] = {}
    if latency_rows:
        metrics += compare_latency(latency_rows, cfg, skipped)
        requests = max(len(by_index) for by_index in _by_prompt(latency_rows).values())
    return Comparison(champion=champion, candidate=candidate, champion_version=champion_version,
                      candidate_version=candidate_version, confidence=cfg.confidence,
                      resamples=cfg.bootstrap_resamples, seed=cfg.bootstrap_seed,
                      quality_items=len(quality_rows or ()), latency_requests=requests, metrics=tuple(metrics),
                      skipped=skipped)


def read_rows(path: Path) -> list[Row]:
    """A JSONL file's objects (blank lines skipped); a bad line fails naming file and line."""
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise PromotionError(f"{path}: cannot read the rows file ({exc.strerror})") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise PromotionError(f"{path}:{number}: not valid JSON ({exc}); each line must be one object") from exc
        if not isinstance(row, dict):
            raise PromotionError(f"{path}:{number}: a JSON {type(row).__name__}, expected an object per line")
        rows.append(row)
    return rows


def write_comparison(c: Comparison, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(c.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return path


def read_comparison(path: Path) -> Comparison:
    path = Path(path)
    try:
        return Comparison.from_dict(orjson.loads(path.read_bytes()))
    except OSError as exc:
        raise PromotionError(f"{path}: cannot read the comparison ({exc.strerror})") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise PromotionError(f"{path}: not a comparison written by write_comparison ({exc!r})") from exc
