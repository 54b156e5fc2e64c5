"""A controllable stub backend in a thread (its counters are inspected) and a gateway factory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from configs.serving import GatewayConfig
from testkit.stub_vllm import StubServer
from tasks.gateway.server import BackgroundGateway


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(ttft_ms=20, itl_ms=2, output_tokens=5).start_in_thread()
    yield server
    server.stop_thread()


@pytest.fixture
def make_gateway(log_dir: Path) -> Iterator[Callable[..., BackgroundGateway]]:
    started: list[BackgroundGateway] = []

    def make(backend_url: str, api_keys: tuple[str, ...] = (), **overrides: Any) -> BackgroundGateway:
        cfg = GatewayConfig(backend_url=backend_url, port=0, **overrides)
        gw = BackgroundGateway(cfg, log_dir=str(log_dir), api_keys=api_keys).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def read_events(log_dir: Path, log_type: str, want: Callable[[list[dict]], bool] = lambda _: True,
                timeout_s: float = 3.0) -> list[dict]:
    """The log lines of `log_type`, waiting (briefly) until `want(lines)` holds: some lines (a
    disconnect's, an upstream error's) are written after the client has stopped listening."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [json.loads(raw) for f in sorted((log_dir / log_type).glob("*.log"))
                 for raw in f.read_text().splitlines()]
        if want(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def by_event(lines: list[dict], event: str) -> list[dict]:
    return [ln for ln in lines if ln["message"] == event]
