"""A managed vLLM does not outlive the process that started it (fake vLLM: a tiny HTTP server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from configs.serving import ServingConfig
from tasks.serving import ServeTarget, start_managed, stop_process_tree
from tests.conftest import REPO_ROOT

FAKE_VLLM = """
import http.server, json, subprocess, sys, time
args = sys.argv[1:]
port, name = int(args[args.index("--port") + 1]), args[args.index("--served-model-name") + 1]
# an engine-core-like child in the same process group
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{}" if self.path == "/health" else json.dumps({"data": [{"id": name}]}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _fake(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_vllm.py"
    script.write_text(textwrap.dedent(FAKE_VLLM))
    return [sys.executable, str(script)]


def _group(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.process_iter() if _pgid(p.pid) == pid and p.status() != psutil.STATUS_ZOMBIE]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _wait_until(cond, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_normal_stop_leaves_neither_vllm_nor_its_guard(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    cfg = ServingConfig(port=0, command=_fake(tmp_path), poll_interval_s=0.05, stop_timeout_s=3)
    dep = start_managed(ServeTarget("bot", "/models/base", "bot"), cfg, tmp_path)
    try:
        guards = [p for p in psutil.Process().children()  # a session-wide vLLM elsewhere has a guard too
                  if "tasks.processes.owner_guard" in " ".join(p.cmdline()) and str(dep.pid) in p.cmdline()]
        assert len(guards) == 1
        assert len(_group(dep.pid)) == 2                              # server + its child
    finally:
        assert stop_process_tree(dep.pid, 3)
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before  # guard exited and was reaped
    assert "owner_guard" not in Path(dep.log_path).read_text()


def test_vllm_is_stopped_when_its_owner_is_killed(tmp_path: Path) -> None:
    owner_script = tmp_path / "owner.py"
    owner_script.write_text(textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from configs.serving import ServingConfig
        from tasks.serving import ServeTarget, start_managed
        cfg = ServingConfig(port=0, command={_fake(tmp_path)!r}, poll_interval_s=0.05, stop_timeout_s=3)
        dep = start_managed(ServeTarget("bot", "/models/base", "bot"), cfg, {str(tmp_path)!r})
        print(json.dumps(dep.to_dict()), flush=True)
        time.sleep(600)
    """))
    owner = subprocess.Popen([sys.executable, str(owner_script)], stdout=subprocess.PIPE, text=True)
    try:
        dep = json.loads(owner.stdout.readline())
        assert len(_group(dep["pid"])) == 2
        owner.send_signal(signal.SIGKILL)   # no finally, no atexit: only the guard can clean up
        owner.wait()
        assert _wait_until(lambda: not _group(dep["pid"]), 15), [p.cmdline() for p in _group(dep["pid"])]
        assert _wait_until(lambda: "is gone; stopping vLLM" in Path(dep["log_path"]).read_text(), 5)
        assert f"pid {owner.pid}" in Path(dep["log_path"]).read_text()
    finally:
        owner.kill()
        owner.wait()
        if dep := locals().get("dep"):
            stop_process_tree(dep["pid"], 1)
