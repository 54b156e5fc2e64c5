"""The `gpu` global concurrency limit on a real Prefect server: two runs that take the GPU
slot the way the pipeline does hold it one after the other, the second saying it waits; with
no limit on the server a run still completes (and says it took no slot)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROBE = [sys.executable, "-m", "tests.e2e._gpu_slot_probe"]


def _start_probe(server, record: Path, out: Path, hold_s: float, gate: Path | None = None,
                 limit: str | None = None) -> subprocess.Popen:
    args = [*PROBE, str(record), str(hold_s), str(gate) if gate else "-", *([limit] if limit else [])]
    return subprocess.Popen(args, cwd=REPO_ROOT, env=server.env, stdout=out.open("w"), stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _intervals(record: Path) -> dict[str, tuple[float, float]]:
    spans: dict[str, dict[str, float]] = {}
    for line in record.read_text().splitlines():
        row = json.loads(line)
        spans.setdefault(row["run"], {})[row["event"]] = row["t"]
    return {run: (s["start"], s["end"]) for run, s in spans.items()}


def _events(record: Path) -> list[str]:
    return [json.loads(line)["event"] for line in record.read_text().splitlines()] if record.exists() else []


def test_two_runs_hold_the_gpu_slot_one_after_the_other(prefect_server, tmp_path):
    prefect_server.cli("--no-prompt", "gcl", "delete", "gpu", check=False)   # whatever an earlier test left
    prefect_server.cli("gcl", "create", "gpu", "--limit", "1")
    record, gate = tmp_path / "slots.jsonl", tmp_path / "hold"
    gate.touch()
    probes: list[subprocess.Popen] = []
    try:
        probes.append(_start_probe(prefect_server, record, tmp_path / "first.out", 0.5, gate))
        _wait_for(lambda: _events(record) == ["start"], 90, "the first run to take the slot")
        probes.append(_start_probe(prefect_server, record, tmp_path / "second.out", 0.5))
        # the second run is up and blocked on the slot while the first one holds it
        _wait_for(lambda: "waiting for a gpu slot" in (tmp_path / "second.out").read_text(), 90,
                  "the second run to say it waits")
        time.sleep(2)
        assert _events(record) == ["start"]
        gate.unlink()
        for proc, name in zip(probes, ("first", "second")):
            assert proc.wait(timeout=120) == 0, (tmp_path / f"{name}.out").read_text()[-3000:]
    finally:
        for proc in probes:
            if proc.poll() is None:
                proc.kill()
        prefect_server.cli("--no-prompt", "gcl", "delete", "gpu", check=False)

    spans = sorted(_intervals(record).values())
    assert len(spans) == 2
    (_, first_end), (second_start, _) = spans
    assert first_end <= second_start, f"the slot was held twice at once: {spans}"
    assert "waiting for a gpu slot" not in (tmp_path / "first.out").read_text()


def test_a_run_completes_where_no_gpu_limit_exists(prefect_server, tmp_path):
    absent = "gpu-never-created"   # the pipeline's code path, under a name no test creates
    assert prefect_server.cli("gcl", "inspect", absent, check=False).returncode != 0
    record, out = tmp_path / "slots.jsonl", tmp_path / "probe.out"
    probe = _start_probe(prefect_server, record, out, 0.2, limit=absent)
    assert probe.wait(timeout=120) == 0, out.read_text()[-3000:]
    assert _events(record) == ["start", "end"]
    assert f"global concurrency limit '{absent}' does not exist on the Prefect server; running without one" in \
        out.read_text()
