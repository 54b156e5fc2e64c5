"""Running the gateway with uvicorn (the `mlops gateway` command and tests call this)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from configs.serving import GatewayConfig


def serve(cfg: GatewayConfig, *, log_dir: str | None = None, api_keys: tuple[str, ...] = ()) -> None:
    """Block serving the gateway on cfg.host:cfg.port until interrupted."""
    import uvicorn

    from tasks.gateway.app import create_app

    app = create_app(cfg, log_dir=log_dir, api_keys=api_keys)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=5, http=http_protocol(cfg, app))


def http_protocol(cfg: GatewayConfig, app: Any) -> type:
    """httptools with the gateway's request-head limits (431 beyond them)."""
    from tasks.gateway.protocol import head_limited_protocol

    return head_limited_protocol(cfg.max_request_line_bytes, cfg.max_header_bytes, app.gateway.refused_head)


class BackgroundGateway:
    """The gateway in a thread of this process, on a free port (tests, benchmarks)."""

    def __init__(self, cfg: GatewayConfig, *, log_dir: str | None = None, api_keys: tuple[str, ...] = ()) -> None:
        import uvicorn

        from tasks.gateway.app import create_app

        self.app: Any = create_app(cfg, log_dir=log_dir, api_keys=api_keys)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((cfg.host, cfg.port))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://{cfg.host}:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=2, http=http_protocol(cfg, self.app))
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])),
                                        name="gateway", daemon=True)

    def start(self) -> BackgroundGateway:
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("gateway did not start within 5 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self.sock.close()
        gw = self.app.gateway
        gw.api.close()
        gw.inference.close()
