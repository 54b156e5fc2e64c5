"""`mlops promote --compare CHAMPION CANDIDATE`: the head-to-head promotion gate, by hand.

Both versions are served by one vLLM (serving.mode managed: started and stopped here;
attached: loaded into the running server), compared on the candidate's held-out items and
one interleaved load, and decided by bootstrap confidence intervals against the
promotion.* margins. On pass the candidate gets the alias (default champion) unless
--dry-run. Exit code: 0 passed, 3 rejected, 1 an error, 2 a bad command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flows.cli.train import DEFAULT_CONFIG, log_dir_for

REJECTED = 3


def promote(
    compare: Annotated[tuple[str, str], typer.Option(
        "--compare", metavar="CHAMPION CANDIDATE",
        help="two registry references, e.g. models:/NAME@champion models:/NAME@candidate")],
    config: Annotated[Path, typer.Option("--config", "-c", help="pipeline YAML (serving, benchmark, promotion)")]
    = DEFAULT_CONFIG,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override one field: section.field=value, e.g. "
                                                                     "promotion.quality_margin=0.05")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="typed logs; default paths.log_dir, $MLOPS_LOG_DIR, "
                                                         "<root>/logs")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="decide and report, but move no alias")] = False,
) -> None:
    """Compare two registered versions head to head and promote the candidate if it holds up."""
    from configs.errors import RegistryError
    from configs.loader import load_config
    from flows.cli._args import usage_error
    from tasks.promotion.compare_versions import compare_registered
    from tasks.registry.versions import parse_ref

    for ref in compare:
        try:
            parse_ref(ref)
        except RegistryError as exc:
            raise usage_error(f"--compare: {exc}") from None
    cfg = load_config(config, set_ or [])
    logs = log_dir_for(log_dir, cfg.paths.log_dir, config)
    out = compare_registered(cfg, compare[0], compare[1], logs, apply=not dry_run, progress=typer.echo)
    h2h, decision = out["head_to_head"], out["decision"]
    typer.echo("")
    typer.echo(Path(h2h["markdown_file"]).read_text().rstrip())
    typer.echo("")
    typer.echo(f"files:      {out['out_dir']} (comparison.json, comparison.md, comparison.png, "
               "quality_items.jsonl, head_to_head_requests.jsonl)")
    state = ("promoted to " + cfg.promotion.alias if decision["promoted"]
             else "not promoted (--dry-run)" if decision["passed"] else "stays where it is")
    typer.echo(f"decision:   {'PASSED' if decision['passed'] else 'REJECTED'}; {out['candidate']} {state}")
    typer.echo(f"            {decision['summary']}")
    if not decision["passed"]:
        raise typer.Exit(REJECTED)
