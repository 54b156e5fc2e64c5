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


_JOB_CHOICES = ("training", "inference", "system", "api", "vllm")
_MAX_EPOCH_S = 253_402_300_800  # 10000-01-01T00:00:00Z


def _parse_end(value: Optional[str]) -> int:
    """'now' (default), epoch seconds, or an ISO-8601 time ('2026-11-26T08:15:00Z') -> epoch ms."""
    import time
    from datetime import datetime, timezone

    if value in (None, "", "now"):
        return int(time.time() * 1000)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not 0 <= seconds < _MAX_EPOCH_S:  # also nan and inf
            raise typer.BadParameter(f"--end {value!r}: epoch seconds between 0 and {_MAX_EPOCH_S:.0f} (year 9999)")
        return int(seconds * 1000)
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise typer.BadParameter(f"--end {value!r}: use 'now', epoch seconds or ISO-8601 such as "
                                 "2026-11-26T08:15:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _duration_ms(value: str, option: str) -> int:
    from logging_lib.logql import parse_duration

    try:
        return parse_duration(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r}: use a duration such as 30s, 5m, 1h, 7d") from None


@app.command("query")
def query(
    logql: Annotated[str, typer.Argument(help="a LogQL query, e.g. '{job=\"inference\"} | json | latency_ms > 1000'")],
    since: Annotated[str, typer.Option(help="how far back from --end to look (log queries and --step)")] = "1h",
    end: Annotated[Optional[str], typer.Option(help="evaluation time: now, epoch seconds or ISO-8601")] = None,
    step: Annotated[Optional[str], typer.Option(
        help="evaluate metric queries as a range query with this step (like Grafana); default: one instant "
             "query at --end (like the Loki ruler)")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output (Loki's API shape)")] = False,
    plot: Annotated[Optional[Path], typer.Option(help="draw the metric series to this PNG")] = None,
    limit: Annotated[int, typer.Option(help="log queries: newest lines kept")] = 1000,
) -> None:
    """Evaluate LogQL over the local log files, with the labels Loki would have (job, service, host, level, filename)."""
    from logging_lib import resolve_log_dir
    from logging_lib.logql import evaluate, parse

    root = resolve_log_dir(log_dir)
    if not root.is_dir():
        raise typer.BadParameter(f"log folder {root} does not exist; pass --log-dir or set $MLOPS_LOG_DIR")
    end_ms = _parse_end(end)
    since_ms = _duration_ms(since, "--since")
    if plot is not None:
        from flows.cli._args import output_path

        output_path(plot, "--plot")
    expr = parse(logql)
    step_ms = _duration_ms(step, "--step") if step else None
    if plot is not None and step_ms is None:
        step_ms = max(1000, since_ms // 120)
    result = evaluate(expr, root, end_ms=end_ms, since_ms=since_ms, step_ms=step_ms, limit=limit)
    if result.kind == "log":
        if plot is not None:
            raise typer.BadParameter("--plot draws metric queries; wrap the log query in count_over_time(...[1m])")
        _print_log_result(result, as_json)
        return
    if as_json:
        typer.echo(json.dumps(_metric_json(result)))
    else:
        _print_metric_table(result)
    if plot is not None:
        _plot(result, plot, logql)
        typer.echo(f"plot written to {plot}", err=True)


def _iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _num(v: float) -> str:
    return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.6e}"


def _print_log_result(result, as_json: bool) -> None:
    if as_json:
        streams: dict[tuple, list] = {}
        for e in result.entries:
            streams.setdefault(tuple(sorted(e.labels.items())), []).append([str(e.ts_ms * 1_000_000), e.line])
        typer.echo(json.dumps({"resultType": "streams", "truncated": result.truncated,
                               "result": [{"stream": dict(k), "values": v} for k, v in streams.items()]}))
        return
    for e in result.entries:
        typer.echo(f"{_iso(e.ts_ms)} {e.labels.get('job', '')} {e.line}")
    note = f" (the newest {result.limit}; raise --limit for more)" if result.truncated else ""
    typer.echo(f"{len(result.entries)} lines{note}", err=True)


def _metric_json(result) -> dict:
    if result.instant:
        return {"resultType": "vector", "result": [
            {"metric": s.labels, "value": [s.points[-1][0] / 1000, repr(s.points[-1][1])]} for s in result.series]}
    return {"resultType": "matrix", "result": [
        {"metric": s.labels, "values": [[t / 1000, repr(v)] for t, v in s.points]} for s in result.series]}


def _print_metric_table(result) -> None:
    if not result.series:
        typer.echo(f"no series (evaluated {'at ' + _iso(result.end_ms) if result.instant else 'from ' + _iso(result.start_ms) + ' to ' + _iso(result.end_ms)})")
        return
    if result.instant:
        rows = [(_labels_text(s.labels), _num(s.points[-1][1])) for s in result.series]
        width = max(len("SERIES"), *(len(r[0]) for r in rows))
        typer.echo(f"{'SERIES':<{width}}  VALUE   (instant query at {_iso(result.end_ms)})")
        for name, value in rows:
            typer.echo(f"{name:<{width}}  {value}")
        return
    header = ("SERIES", "POINTS", "LAST", "MIN", "MAX", "LAST AT")
    rows = []
    for s in result.series:
        vals = [v for _t, v in s.points]
        rows.append((_labels_text(s.labels), str(len(vals)), _num(vals[-1]), _num(min(vals)), _num(max(vals)),
                     _iso(s.points[-1][0])))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    typer.echo(f"range query: {_iso(result.start_ms)} .. {_iso(result.end_ms)} step {result.step_ms / 1000:g}s",
               err=True)


def _plot(result, path: Path, title: str) -> None:
    from datetime import datetime, timezone

    try:
        import matplotlib
    except ImportError:
        raise typer.BadParameter("--plot needs matplotlib: pip install 'mlops-pipeline[training]' "
                                 "(or pip install matplotlib)") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for s in result.series[:20]:
        xs = [datetime.fromtimestamp(t / 1000, tz=timezone.utc) for t, _v in s.points]
        ys = [v for _t, v in s.points]
        ax.plot(xs, ys, marker="." if len(xs) < 50 else None, label=_labels_text(s.labels) or "{}")
    ax.set_title(title if len(title) < 90 else title[:87] + "...", fontsize=9)
    ax.set_xlabel("time (UTC)")
    if result.series:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@app.command("tail")
def tail(
    type_: Annotated[Optional[list[str]], typer.Option("--type", help="log type(s): training, inference, system, api, vllm")] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines (new files too)")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="how many recent lines to show first")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON lines")] = False,
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    stop_after_s: Annotated[Optional[float], typer.Option(hidden=True)] = None,
) -> None:
    """Show the newest log lines (merged across files by time), pretty and coloured on a terminal."""
    import sys
    import time

    from logging_lib import resolve_log_dir
    from logging_lib.logql.tail import follow, initial_lines, pretty

    for t in type_ or []:
        if t not in _JOB_CHOICES:
            raise typer.BadParameter(f"--type {t!r}: choose from {', '.join(_JOB_CHOICES)}")
    root = resolve_log_dir(log_dir)
    if not root.is_dir():
        raise typer.BadParameter(f"log folder {root} does not exist; pass --log-dir or set $MLOPS_LOG_DIR")
    types = tuple(type_) if type_ else None
    colour = sys.stdout.isatty() and not as_json

    def show(job: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace") if as_json else pretty(job, line, colour)
        typer.echo(text)

    for job, line in initial_lines(root, types, lines):
        show(job, line)
    if not follow_:
        return
    deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
    sys.stdout.flush()
    try:
        for job, line in follow(root, types, stop=lambda: deadline is not None and time.monotonic() > deadline):
            show(job, line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass


def _default_rules() -> Path:
    return Path(__file__).resolve().parents[2] / "deployments" / "observability" / "loki" / "rules" / "fake" / "mlops-alerts.yaml"


@app.command("alerts")
def alerts(
    rules: Annotated[Optional[Path], typer.Option(help="Loki ruler rules file; default: this checkout's deployments/observability/loki/rules/fake/mlops-alerts.yaml")] = None,
    at: Annotated[Optional[str], typer.Option(help="evaluation time: now, epoch seconds or ISO-8601")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Evaluate the Loki alert rules over the local logs, as the Loki ruler would (firing/pending/inactive)."""
    from logging_lib import resolve_log_dir
    from logging_lib.logql.rules import evaluate_rules, load_rules, render_annotation

    path = rules or _default_rules()
    if not path.is_file():
        raise typer.BadParameter(f"rules file {path} not found; pass --rules")
    root = resolve_log_dir(log_dir)
    if not root.is_dir():
        raise typer.BadParameter(f"log folder {root} does not exist; pass --log-dir or set $MLOPS_LOG_DIR")
    states = evaluate_rules(load_rules(path), root, _parse_end(at))
    if as_json:
        typer.echo(json.dumps([{"alert": s.rule.name, "state": s.state, "severity": s.rule.labels.get("severity"),
                                "series": [{"labels": lb, "value": v} for lb, v in s.series]} for s in states]))
        return
    for s in states:
        typer.echo(f"{s.state.upper():8} {s.rule.name}")
        for labels, value in s.series:
            summary = render_annotation(s.rule.annotations.get("summary", ""), labels, value)
            typer.echo(f"         {_labels_text(labels)} = {_num(value)}  {summary}")
            if s.state == "firing" and s.rule.annotations.get("runbook"):
                typer.echo(f"         runbook: {s.rule.annotations['runbook']}")
