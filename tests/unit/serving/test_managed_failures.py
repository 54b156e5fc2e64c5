"""Managed vLLM start-up failures are clear and leave no process behind (fake vLLM commands)."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from configs.errors import ServingError
from configs.serving import ServingConfig
from tasks.serving import ServeTarget, start_managed, stop_process_tree

TARGET = ServeTarget("bot", "/models/base", "bot")


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _fake(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_vllm.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = ServingConfig(port=port, command=[sys.executable, "-c", "pass"])
        with pytest.raises(ServingError, match=f"port {port} .* already in use"):
            start_managed(TARGET, cfg, tmp_path)
    assert not (tmp_path / "vllm").exists()


def test_vllm_missing(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="vLLM is not installed.*setup.sh --vllm"):
        start_managed(TARGET, ServingConfig(port=0, command=[str(tmp_path / "no-such-vllm"), "serve"]), tmp_path)
    # an interpreter without the vllm package (this test environment's own)
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    with pytest.raises(ServingError, match="cannot find the 'vllm' package"):
        start_managed(TARGET, ServingConfig(port=0, command=cmd), tmp_path)


def test_crash_during_start_quotes_the_log_tail(tmp_path: Path) -> None:
    before = _children()
    cmd = _fake(tmp_path, """
        import sys
        print("INFO loading model", sys.argv[1:3])
        print("RuntimeError: fake engine died: not enough KV cache", flush=True)
        sys.exit(3)
    """)
    with pytest.raises(ServingError) as info:
        start_managed(TARGET, ServingConfig(port=0, command=cmd, poll_interval_s=0.05), tmp_path)
    msg = str(info.value)
    assert "exited with code 3" in msg and "not enough KV cache" in msg and "--model" in msg
    log = next((tmp_path / "vllm").glob("bot_*.log"))
    assert "fake engine died" in log.read_text()
    assert _children() == before


def test_startup_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    before = _children()
    marker = tmp_path / "grandchild.pid"
    cmd = _fake(tmp_path, f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(marker)!r}, "w").write(str(child.pid))
        print("still loading...", flush=True)
        time.sleep(600)
    """)
    with pytest.raises(ServingError, match=r"not ready[\s\S]*startup_timeout_s=1.5s[\s\S]*still loading"):
        start_managed(TARGET, ServingConfig(port=0, command=cmd, startup_timeout_s=1.5, poll_interval_s=0.05,
                                            stop_timeout_s=2), tmp_path)
    grandchild = int(marker.read_text())
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert _children() == before


def test_stop_process_tree_of_nothing() -> None:
    assert stop_process_tree(2**22 + 12345, 0.1) is False
