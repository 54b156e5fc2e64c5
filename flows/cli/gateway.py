"""`mlops gateway`: the OpenAI-compatible gateway in front of a vLLM server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def gateway(
    backend_url: Annotated[str, typer.Option(help="vLLM's base URL, e.g. http://127.0.0.1:8000")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    log_dir: Annotated[Optional[Path], typer.Option(help="default: $MLOPS_LOG_DIR, else ./logs")] = None,
    upstream_timeout_s: Annotated[float, typer.Option(help="max wait for the next byte from vLLM")] = 300.0,
    max_body_bytes: Annotated[int, typer.Option(help="largest request body accepted")] = 1_048_576,
    max_request_line_bytes: Annotated[int, typer.Option(help="longer request line -> 431")] = 8192,
    max_header_bytes: Annotated[int, typer.Option(help="larger header block -> 431")] = 16384,
    log_prompts: Annotated[bool, typer.Option(help="write raw prompts/completions to the inference log")] = False,
    name: Annotated[str, typer.Option(help="logger name: logs/api/<name>_*.log; one per replica behind a load "
                                           "balancer (e.g. gateway-2)")] = "gateway",
    max_connections: Annotated[int, typer.Option(help="upstream connections at most; more in flight -> 503")] = 1024,
) -> None:
    """Serve /v1/chat/completions, /v1/completions, /v1/models, /health and /metrics, logging every
    request. API keys: set MLOPS_GATEWAY_API_KEYS (comma-separated) to require Bearer auth."""
    from pydantic import ValidationError

    from configs.errors import ConfigError
    from configs.serving import GatewayConfig, GatewaySettings
    from flows.cli._args import base_url as check_url
    from tasks.gateway.server import serve

    from flows.cli._args import folder_path

    backend_url = check_url(backend_url, "--backend-url")
    log_dir = folder_path(log_dir, "--log-dir")

    try:
        cfg = GatewayConfig(backend_url=backend_url, host=host, port=port, upstream_timeout_s=upstream_timeout_s,
                            max_body_bytes=max_body_bytes, max_request_line_bytes=max_request_line_bytes,
                            max_header_bytes=max_header_bytes, log_prompts=log_prompts, name=name,
                            max_connections=max_connections)
    except ValidationError as exc:
        raise ConfigError(f"gateway options: {exc.errors()[0]['msg']} ({exc.errors()[0]['loc']})") from exc
    keys = GatewaySettings().key_list()
    typer.echo(f"gateway on http://{host}:{port} -> {cfg.backend_url} (auth {'on' if keys else 'off'})", err=True)
    serve(cfg, log_dir=str(log_dir) if log_dir else None, api_keys=keys)
