"""`mlops bench compare BASELINE.json OTHER.json [...]`: result files of `mlops bench` or
`vllm bench serve --save-result [--save-detailed]` side by side, with differences, ratios and,
where both files carry per-request samples, bootstrap intervals of the latency ratios.

Exit code: 0 compared, 1 a file that cannot be compared (one `error:` line naming it), 2 a bad
command line. The defaults of --confidence/--resamples/--seed are the promotion gate's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from configs.promotion import PromotionConfig

_GATE = PromotionConfig.model_fields
MIN_RESAMPLES = 100


def compare(
    files: Annotated[list[Path], typer.Argument(help="result JSON files; the first is the baseline", show_default=False)],
    json_: Annotated[bool, typer.Option("--json", help="print one JSON object instead of the table")] = False,
    confidence: Annotated[float, typer.Option(help="two-sided confidence of the intervals, in (0, 1)")]
    = _GATE["confidence"].default,
    resamples: Annotated[int, typer.Option(help=f"bootstrap resamples per interval (>= {MIN_RESAMPLES})")]
    = _GATE["bootstrap_resamples"].default,
    seed: Annotated[int, typer.Option(help="seeds the bootstrap (one fixed stream per metric)")]
    = _GATE["bootstrap_seed"].default,
) -> None:
    """Compare benchmark result files (ours or vLLM's): the first is the baseline."""
    from flows.cli._args import usage_error

    if len(files) < 2:
        raise usage_error(f"give a baseline and at least one more result file, got {len(files)}")
    if not 0 < confidence < 1:
        raise usage_error(f"--confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if resamples < MIN_RESAMPLES:
        raise usage_error(f"--resamples must be >= {MIN_RESAMPLES}, got {resamples}")

    import orjson

    from tasks.benchmark.compare import compare_runs
    from tasks.benchmark.compare_inputs import load_run
    from tasks.benchmark.compare_report import format_comparison

    c = compare_runs([load_run(path) for path in files], confidence=confidence, resamples=resamples, seed=seed)
    if json_:
        typer.echo(orjson.dumps(c.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(format_comparison(c), nl=False)
