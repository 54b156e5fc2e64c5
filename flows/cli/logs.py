"""`mlops logs ...`: schemas and validation of the JSON-line logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Inspect, validate and query the typed JSON-line logs.")


@app.command("schema")
def schema(event: Annotated[Optional[str], typer.Argument(help="one event name; all when omitted")] = None) -> None:
    """Print the JSON Schema of every event type (or of one)."""
    from logging_lib.schemas import EVENT_SCHEMAS, all_schemas

    if event is None:
        typer.echo(json.dumps(all_schemas(), indent=2))
        return
    if event not in EVENT_SCHEMAS:
        raise typer.BadParameter(f"unknown event {event!r}; known: {', '.join(sorted(EVENT_SCHEMAS))}")
    typer.echo(json.dumps(EVENT_SCHEMAS[event], indent=2))


@app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="log files, or folders searched for *.log")],
    max_errors: Annotated[int, typer.Option(help="errors reported per file at most")] = 20,
) -> None:
    """Check every line of the given log files against its event's schema (exit 1 on any error)."""
    from logging_lib.schemas import iter_log_files, validate_file

    files = list(iter_log_files(paths))
    missing = [p for p in files if not p.is_file()]
    if missing:
        typer.echo(f"error: not a file: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)
    if not files:
        typer.echo("error: no *.log files found under the given paths", err=True)
        raise typer.Exit(2)
    bad = 0
    total = 0
    for path in files:
        report = validate_file(path, max_errors=max_errors)
        total += report.lines
        if report.ok:
            typer.echo(f"ok    {path} ({report.lines} lines)")
        else:
            bad += 1
            typer.echo(f"FAIL  {path} ({report.lines} lines, {len(report.errors)} problems)")
            for err in report.errors:
                typer.echo(f"      {err}")
    typer.echo(f"{len(files) - bad} of {len(files)} files valid, {total} lines checked")
    if bad:
        raise typer.Exit(1)
