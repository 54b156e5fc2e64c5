"""The gateway as `mlops gateway` runs it, on a chosen upstream client (bench/gateway_overhead.py).

    python -m bench._gateway_proc --backend-url URL --port N --log-dir DIR --upstream own|aiohttp
"""

from __future__ import annotations

import argparse

from configs.serving import GatewayConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend-url", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--upstream", choices=("own", "aiohttp"), default="own")
    a = ap.parse_args()
    import uvicorn

    from bench._aiohttp_upstream import AiohttpUpstreamPool
    from tasks.gateway.app import create_app
    from tasks.gateway.server import http_protocol
    from tasks.http.upstream import UpstreamPool

    cfg = GatewayConfig(backend_url=a.backend_url, port=a.port)
    app = create_app(cfg, log_dir=a.log_dir, upstream=AiohttpUpstreamPool if a.upstream == "aiohttp" else UpstreamPool)
    # The same uvicorn settings as tasks/gateway/server.py::serve.
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=5, http=http_protocol(cfg, app))


if __name__ == "__main__":
    main()
