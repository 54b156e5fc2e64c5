"""A small flow that holds the GPU slot exactly as the pipeline does (`tasks.pipeline.gpu_slot`
with an `OrchestrationConfig`), recording when it held it. The e2e tests run it directly (two
processes at once) and as a deployment a process worker starts (`tests/e2e/_gpu_slot_probe.py:gpu_slot_probe`).

    python -m tests.e2e._gpu_slot_probe RECORD [HOLD_S] [GATE|-] [LIMIT]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from configs.orchestration import OrchestrationConfig
from tasks.pipeline.gpu_slot import gpu_slot


def _record(path: str, event: str) -> None:
    line = {"event": event, "t": time.time(), "pid": os.getpid(), "run": flow_run.get_id()}
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


@flow(name="gpu-slot-probe")
def gpu_slot_probe(record: str, hold_s: float = 2.0, gate: str | None = None, lease_s: float = 60.0,
                   limit: str | None = OrchestrationConfig().gpu_limit) -> str:
    """Hold the slot for `hold_s`, and on while the file `gate` exists (at most 10 minutes)."""
    orch = OrchestrationConfig(gpu_limit=limit, gpu_lease_s=lease_s)
    with gpu_slot(orch.gpu_limit, orch.gpu_lease_s, get_run_logger(), flow_run.get_id()):
        _record(record, "start")
        until = time.monotonic() + hold_s
        cap = time.monotonic() + 600
        while time.monotonic() < until or (gate and Path(gate).exists() and time.monotonic() < cap):
            time.sleep(0.2)
        _record(record, "end")
    return "done"


if __name__ == "__main__":
    args = sys.argv[1:]
    gate_arg = args[2] if len(args) > 2 and args[2] != "-" else None
    gpu_slot_probe(record=args[0], hold_s=float(args[1]) if len(args) > 1 else 2.0, gate=gate_arg,
                   **({"limit": args[3]} if len(args) > 3 else {}))
