"""`mlops bench compare`'s readable form of a `RunComparison`: a legend of the files, one aligned
table of metrics with units (each candidate's value, its difference and ratio to the baseline),
then the bootstrap intervals and what was left out and why. Numbers only come from the
comparison (the `--json` form prints the same value)."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.benchmark.compare import RatioInterval, RunComparison
from tasks.benchmark.compare_inputs import SOURCES

NA = "n/a"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return NA
    if unit == "requests":
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def fmt_difference(value: float | None, unit: str) -> str:
    text = fmt_value(value, unit)
    return text if value is None or value < 0 else "+" + text


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    """Columns padded to their widest cell; the first `left` left-aligned, numbers right-aligned."""
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header))]
    out = []
    for row in (header, *lines):
        cells = [cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return out


def _legend(c: RunComparison) -> list[str]:
    lines = []
    for i, (label, run) in enumerate(zip(c.labels, c.runs)):
        samples = (f"{run.requests_sampled} requests with per-request samples" if run.samples
                   else f"no per-request samples: {run.no_samples}")
        role = "baseline" if i == 0 else "candidate"
        lines.append(f"{label} ({role}): {run.path}  [{SOURCES[run.source]}; {samples}]")
    return lines


def _metrics(c: RunComparison) -> list[str]:
    base = c.labels[0]
    header = ["metric", "unit", base]
    for label in c.labels[1:]:
        header += [label, f"{label}-{base}", f"{label}/{base}"]
    lines = []
    for row in c.rows:
        cells = [row.label, row.unit, fmt_value(row.values[0], row.unit)]
        for value, diff, ratio in zip(row.values[1:], row.differences, row.ratios):
            cells += [fmt_value(value, row.unit), fmt_difference(diff, row.unit), fmt_ratio(ratio)]
        lines.append(cells)
    return _table(header, lines)


def _interval_cell(i: RatioInterval | None) -> str:
    if i is None:
        return NA
    return f"{i.estimate:.2f}x [{i.low:.2f}x, {i.high:.2f}x] {i.verdict}"


def _metric_label(metric: str) -> str:
    stat, _, name = metric.partition("_")
    return f"{stat} {name.upper()}"


def _skips(c: RunComparison) -> list[str]:
    """Left-out intervals grouped by reason (a run without samples would repeat it six times)."""
    by_reason: dict[str, list[str]] = {}
    for key, why in c.skipped.items():
        by_reason.setdefault(why, []).append(key)
    return [f"  {', '.join(keys)}: {why}" for why, keys in by_reason.items()]


def _intervals(c: RunComparison) -> list[str]:
    base = c.labels[0]
    title = (f"candidate/baseline with a {c.confidence:.0%} bootstrap interval (each run's requests resampled "
             f"on their own; {c.resamples} resamples, seed {c.seed}):")
    found = {(i.candidate, i.metric): i for i in c.intervals}
    metrics = list(dict.fromkeys(i.metric for i in c.intervals))
    out = [title]
    if metrics:
        header = ["metric", *(f"{label}/{base}" for label in c.labels[1:])]
        lines = [[_metric_label(m), *(_interval_cell(found.get((label, m))) for label in c.labels[1:])]
                 for m in metrics]
        out += _table(header, lines, left=len(header))
    if c.skipped:
        out += ["not computed:" if metrics else "none computed:", *_skips(c)]
    return out


def format_comparison(c: RunComparison) -> str:
    return "\n".join([*_legend(c), "", *_metrics(c), "", *_intervals(c)]).rstrip() + "\n"
