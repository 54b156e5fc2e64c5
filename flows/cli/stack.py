"""`mlops stack up|down|status|env|restart-postgres`: the production profile on this machine
(scripts/stack.sh calls it). Settings come from the environment, as docker-compose's do."""

from __future__ import annotations

import os
import shlex
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Postgres, Prefect server + 2 workers, MLflow server, S3 and the gateway on this machine.")


def settings():
    """Validated once here: the environment, then <state dir>/stack.env (secrets made on first use)."""
    from pydantic import ValidationError

    from configs.errors import ConfigError
    from configs.stack import StackSettings
    from tasks.stack.secrets import ensure_secrets

    state = StackSettings.model_fields["mlops_stack_state_dir"].default
    state = os.environ.get("MLOPS_STACK_STATE_DIR", str(state))
    from configs.stack import REPO_ROOT
    from pathlib import Path

    state_dir = Path(state) if Path(state).is_absolute() else REPO_ROOT / state
    path = ensure_secrets(state_dir, os.environ)
    try:
        return StackSettings(_env_file=path)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"stack settings: {'.'.join(map(str, first['loc'])).upper()}: {first['msg']} "
                          f"(from the environment or {path})") from exc


@app.command()
def up() -> None:
    """Start every service (idempotent), each health-checked; register the deployments."""
    from tasks.stack.lifecycle import up as start

    start(settings(), echo=lambda line: typer.echo(line, err=True))


@app.command()
def down(volumes: Annotated[bool, typer.Option("--volumes", help="also delete Postgres data and stack.env")] = False
         ) -> None:
    """Stop every service: no process and no bound port left behind."""
    from tasks.stack.lifecycle import down as stop

    stop(settings(), volumes=volumes, echo=lambda line: typer.echo(line, err=True))


@app.command()
def status() -> None:
    """Each service's state, pid and address; exit 1 unless all are healthy."""
    from tasks.stack.lifecycle import status as rows

    table = rows(settings())
    for row in table:
        typer.echo(f"{row.name:<18} {row.state:<10} {row.pid or '-':<8} {row.where}")
    if any(r.state in ("stopped", "unhealthy") for r in table):
        raise typer.Exit(1)


@app.command()
def env() -> None:
    """`export` lines that point a shell at the stack: eval "$(scripts/stack.sh env)"."""
    from tasks.stack.services import client_env

    for key, value in client_env(settings()).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@app.command("restart-postgres")
def restart_postgres() -> None:
    """Restart Postgres (fast shutdown: every connection drops), as a failure drill."""
    from tasks.stack import postgres

    postgres.restart(settings())
