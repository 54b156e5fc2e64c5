"""The thin Prefect tasks: deploy returns small values; stop leaves nothing running."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import psutil
import pytest

from configs.serving import ServingConfig
from testkit.stub_vllm import StubServer


def test_deploy_attached_via_registry_and_stop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tasks.serving.tasks import deploy_model_task, stop_model_task

    base = tmp_path / "base"
    base.mkdir()
    fake_registry = types.ModuleType("tasks.registry.versions")
    fake_registry.resolve_model = lambda uri, ref: types.SimpleNamespace(  # type: ignore[attr-defined]
        name="bot", version=2, base_model=str(base), adapter_dir=None, lora_rank=None, merged_dir=None, tags={})
    monkeypatch.setitem(sys.modules, "tasks.registry.versions", fake_registry)
    stub = StubServer(model="bot").start_in_thread()
    try:
        out = deploy_model_task.fn(ServingConfig(mode="attached", base_url=stub.base_url), "sqlite:///r.db",
                              "models:/bot@candidate", str(tmp_path))
    finally:
        stub.stop_thread()
    assert out == {"mode": "attached", "base_url": stub.base_url, "served_name": "bot", "base_name": "bot",
                   "pid": None, "log_path": None, "served_names": {"models:/bot@candidate": "bot"}}
    assert stop_model_task.fn(None) is False

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    assert stop_model_task.fn(proc.pid, 5) is True
    assert proc.wait(5) is not None and not psutil.pid_exists(proc.pid) or \
        psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE


def test_deploy_task_serves_also_beside_the_model_ref(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tasks.serving.tasks import deploy_model_task

    versions = {"models:/bot@candidate": "4", "models:/bot@champion": "3"}
    for v in versions.values():
        (tmp_path / f"a{v}").mkdir()
        (tmp_path / f"a{v}" / "adapter_config.json").write_text('{"r": 8}')
    fake_registry = types.ModuleType("tasks.registry.versions")
    fake_registry.resolve_model = lambda uri, ref: types.SimpleNamespace(  # type: ignore[attr-defined]
        name="bot", version=versions[ref], base_model="org/base", adapter_dir=str(tmp_path / f"a{versions[ref]}"),
        lora_rank=8, merged_dir=None, tags={})
    monkeypatch.setitem(sys.modules, "tasks.registry.versions", fake_registry)
    stub = StubServer(model="bot-base").start_in_thread()
    try:
        out = deploy_model_task.fn(ServingConfig(mode="attached", base_url=stub.base_url), "sqlite:///r.db",
                                   "models:/bot@candidate", str(tmp_path), also=["models:/bot@champion"])
    finally:
        stub.stop_thread()
    assert stub.stats.lora_loaded == ["bot-v4", "bot-v3"]
    assert (out["served_name"], out["base_name"]) == ("bot-v4", "bot-base")
    assert out["served_names"] == {"models:/bot@candidate": "bot-v4", "models:/bot@champion": "bot-v3"}
