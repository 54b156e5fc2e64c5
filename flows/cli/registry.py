"""`mlops registry list|show|promote`: the MLflow Model Registry for humans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from flows.cli.train import DEFAULT_CONFIG

app = typer.Typer(no_args_is_help=True, help="List, inspect and promote registered model versions.")

_SHOWN_TAGS = ("base_model", "lora_rank", "quantization", "dataset_sha256", "git_commit", "base_exact_match",
               "final_exact_match", "final_eval_loss")

UriOpt = Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI; default: the config's")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="pipeline YAML naming the tracking URI")]


def _uri(tracking_uri: Optional[str], config: Path) -> str:
    if tracking_uri:
        return tracking_uri
    from configs.loader import load_config

    return str(load_config(config).mlflow.tracking_uri)


@app.command("list")
def list_(tracking_uri: UriOpt = None, config: ConfigOpt = DEFAULT_CONFIG,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered model with its latest version and aliases."""
    from tasks.registry.versions import list_models

    models = list_models(_uri(tracking_uri, config))
    if as_json:
        typer.echo(json.dumps(models, indent=2))
        return
    if not models:
        typer.echo("no registered models")
    for m in models:
        aliases = ", ".join(f"@{a}={v}" for a, v in sorted(m["aliases"].items())) or "-"
        typer.echo(f"{m['name']}  versions={m['versions']}  latest={m['latest_version']}  aliases: {aliases}")


@app.command("show")
def show(name: str, tracking_uri: UriOpt = None, config: ConfigOpt = DEFAULT_CONFIG,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A model's versions with their aliases and key tags."""
    from tasks.registry.versions import describe_model

    info = describe_model(_uri(tracking_uri, config), name)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"{info['name']}")
    for v in info["versions"]:
        aliases = " ".join(f"@{a}" for a in v["aliases"])
        typer.echo(f"  version {v['version']} {aliases}".rstrip())
        typer.echo(f"    run {v['run_id']}  source {v['source']}")
        for key in _SHOWN_TAGS:
            if key in v["tags"]:
                typer.echo(f"    {key}: {v['tags'][key]}")


@app.command("promote")
def promote(name: str, version: str, alias: Annotated[str, typer.Option(help="alias to move")] = "champion",
            tracking_uri: UriOpt = None, config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Point ALIAS (default champion) at VERSION of NAME."""
    from tasks.registry.versions import get_alias_version
    from tasks.registry.versions import promote as do_promote

    uri = _uri(tracking_uri, config)
    before = get_alias_version(uri, name, alias)
    do_promote(uri, name, version, alias)
    typer.echo(f"{name}@{alias}: {before or '-'} -> {version}")
