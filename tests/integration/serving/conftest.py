"""The real vLLM CPU build serving a tiny locally built Llama plus a LoRA adapter, started once
per session, with the gateway in front of it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from configs.serving import GatewayConfig, ServingConfig, default_vllm_command
from tasks.gateway.server import BackgroundGateway
from tests.conftest import vllm_processes
from tasks.serving import Deployment, ServeTarget, start_managed, stop_process_tree


@dataclass
class Stack:
    deployment: Deployment
    target: ServeTarget
    gateway_url: str
    log_dir: Path
    cfg: ServingConfig


def _vllm_available(cmd: list[str]) -> bool:
    if not Path(cmd[0]).exists():
        return False
    probe = subprocess.run([cmd[0], "-c", "import importlib.util,sys; sys.exit(importlib.util.find_spec('vllm') is None)"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.integration.serving.tiny_model import build_adapter, build_tiny_llama

    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_llama(root / "base")
    return base, build_adapter(base, root / "adapter", rank=8)


@pytest.fixture(scope="session")
def stack(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    command = default_vllm_command()
    if not _vllm_available(command):
        pytest.skip(f"vLLM CPU build not found at {command[0]}: run scripts/setup.sh --vllm")
    base, adapter = tiny_model
    log_dir = tmp_path_factory.mktemp("logs")
    cfg = ServingConfig(port=0, command=command, startup_timeout_s=300, stop_timeout_s=20,
                        env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
                             "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"})
    target = ServeTarget("tiny", str(base), "tiny-base", str(adapter), 8, "tiny", "1")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    dep = start_managed(target, cfg, log_dir)
    gw = BackgroundGateway(GatewayConfig(backend_url=dep.base_url, port=0, upstream_timeout_s=120),
                           log_dir=str(log_dir)).start()
    try:
        yield Stack(dep, target, gw.base_url, log_dir, cfg)
    finally:
        gw.stop()
        assert dep.pid is not None
        stop_process_tree(dep.pid, cfg.stop_timeout_s)
        # only vLLM's processes count: other session fixtures (e.g. a Prefect test server) start children too
        left = {p.pid for p in psutil.Process().children(recursive=True)} & set(vllm_processes()) - before
        assert not left, f"vLLM processes left behind: {left}"
