"""Retention never deletes a file another process holds open, with or without our lock (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from configs.errors import ServingError
from configs.retention import RetentionConfig
from configs.serving import ServingConfig
from logging_lib import SystemLogger
from logging_lib.sink import LOCKED_BY_WRITER, open_locked_append
from tasks.housekeeping.retention import run_retention
from tasks.serving import ServeTarget, start_managed
from tasks.housekeeping.storage import FileDestination
from tests.integration.housekeeping.conftest import write_log

pytestmark = pytest.mark.integration

# Writes one line per line read on stdin, to its stdout, as vLLM writes its log.
WRITER = textwrap.dedent("""
    import sys
    for line in sys.stdin:
        sys.stdout.write('{"message":"next","n":%d}\\n' % len(line))
        sys.stdout.flush()
""")


def _writer(path: Path, *, locked: bool) -> subprocess.Popen[bytes]:
    """Start a child whose stdout is `path`: the way `tasks/serving/vllm.py` starts vLLM (locked) or did (not)."""
    opener = open_locked_append if locked else (lambda p: open(p, "ab"))
    with opener(path) as log:
        return subprocess.Popen([sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stdout=log)


def _events(log_dir: Path, name: str) -> list[dict]:
    lines = [json.loads(line) for p in sorted((log_dir / "system").glob("retention_*.log"))
             for line in p.read_text().splitlines()]
    return [e for e in lines if e["message"] == name]


def _retain(log_dir: Path, backups: Path, now: float | None = None):
    with SystemLogger("retention", str(log_dir)) as events:
        return run_retention(log_dir, RetentionConfig(), FileDestination(backups), events=events, now=now)


def test_files_held_open_by_live_writers_are_kept_and_archived_once_they_are_gone(log_dir, tmp_path):
    unlocked = write_log(log_dir, "vllm", "bot_unlocked.log", age_days=9)
    locked = write_log(log_dir, "vllm", "bot_locked.log", age_days=9)
    before = {p: p.read_bytes() for p in (unlocked, locked)}
    writers = {unlocked: _writer(unlocked, locked=False), locked: _writer(locked, locked=True)}
    try:
        report = _retain(log_dir, tmp_path / "backups")

        assert report.ok, report.summary()
        assert report.deleted == [] and unlocked.exists() and locked.exists()
        reasons = {s.name: s.reason for s in report.skipped}
        assert reasons["vllm/bot_locked.log"] == LOCKED_BY_WRITER
        pid = writers[unlocked].pid
        assert reasons["vllm/bot_unlocked.log"].startswith(f"held open by pid {pid} (python")
        kept = {e["file"]: e["reason"] for e in _events(log_dir, "retention_kept")}
        assert kept == {"vllm/bot_unlocked.log": reasons["vllm/bot_unlocked.log"],
                        "vllm/bot_locked.log": LOCKED_BY_WRITER}
        for proc in writers.values():  # the writers' next lines land in the files retention kept
            proc.communicate(b"go\n", timeout=30)
    finally:
        for proc in writers.values():
            proc.kill()
            proc.wait()
    for path, body in before.items():
        assert path.read_bytes() == body + b'{"message":"next","n":3}\n'

    later = _retain(log_dir, tmp_path / "backups", now=time.time() + 10 * 86_400)  # writers gone, files aged

    assert later.ok, later.summary()
    assert sorted(n for n in later.deleted if n.startswith("vllm/")) == ["vllm/bot_locked.log", "vllm/bot_unlocked.log"]
    assert not unlocked.exists() and not locked.exists()


def test_a_file_opened_after_planning_is_not_deleted(log_dir, tmp_path, monkeypatch):
    """A writer that opens the file while it is being archived: the check under the delete lock sees it."""
    from tasks.housekeeping import retention as mod

    path = write_log(log_dir, "vllm", "late.log", age_days=9)
    writers: list[subprocess.Popen[bytes]] = []
    claim = mod.claim_for_deletion

    def open_then_claim(paths):
        writers.extend(_writer(p, locked=False) for p in paths)
        return claim(paths)

    monkeypatch.setattr(mod, "claim_for_deletion", open_then_claim)
    try:
        report = run_retention(log_dir, RetentionConfig(), FileDestination(tmp_path / "backups"))
    finally:
        for proc in writers:
            proc.kill()
            proc.wait()
    assert path.exists() and report.deleted == []
    assert [s.reason.split(" (")[0] for s in report.skipped] == [f"held open by pid {writers[0].pid}"]


def test_managed_vllm_log_is_locked_for_as_long_as_vllm_runs(tmp_path):
    """vLLM inherits the log fd; the shared flock on it lives in vLLM, so retention's lock probe sees it."""
    script = tmp_path / "fake_vllm.py"
    script.write_text(textwrap.dedent("""
        import fcntl, os, sys
        fd = os.open(os.readlink("/proc/self/fd/1"), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("log locked: no", flush=True)
        except BlockingIOError:
            print("log locked: yes", flush=True)
        sys.exit(3)
    """))
    cfg = ServingConfig(port=0, command=[sys.executable, str(script)], poll_interval_s=0.05)
    with pytest.raises(ServingError, match="log locked: yes"):
        start_managed(ServeTarget("bot", "/models/base", "bot"), cfg, tmp_path)


def test_open_locked_append_reopens_a_file_deleted_while_it_waited(tmp_path):
    """Retention deletes under an exclusive flock; a writer that waited for it must not write into the void."""
    import fcntl

    path = tmp_path / "x.log"
    path.write_bytes(b"old\n")
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # retention, deleting
    done: list[Path] = []

    def write() -> None:
        with open_locked_append(path) as log:
            log.write(b"new\n")
        done.append(path)

    t = threading.Thread(target=write)
    t.start()
    time.sleep(0.2)
    path.unlink()
    os.close(fd)
    t.join(10)
    assert done and path.read_bytes() == b"new\n"
