"""`python -m flows.safeguards`: put on the Prefect server ($PREFECT_API_URL) what lets runs
share one machine safely, idempotently (run it after every `prefect deploy`):

- the global concurrency limit the flows hold a GPU slot of (`orchestration.gpu_limit`,
  default `gpu`, 1 slot): two trainings never share a GPU;
- every automation in deployments/automations/ (crash-zombie-flow-runs: a run whose
  heartbeats stop is marked Crashed).

    python -m flows.safeguards [--gpu-limit gpu] [--gpu-slots 1] [--automation FILE ...]

Exit 2 with a message naming the file or value to fix; 0 after one line per object.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from configs.errors import ConfigError
from configs.orchestration import OrchestrationConfig
from tasks.pipeline.safeguards import ensure_automation, ensure_concurrency_limit, load_automation

AUTOMATIONS_DIR = Path(__file__).resolve().parents[1] / "deployments" / "automations"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.safeguards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu-limit", default=OrchestrationConfig().gpu_limit,
                        help="name of the GPU concurrency limit (the config's orchestration.gpu_limit)")
    parser.add_argument("--gpu-slots", type=int, default=1, help="slots when it is created: GPUs a run may use at once")
    parser.add_argument("--automation", action="append", type=Path, default=None,
                        help=f"automation file (repeatable); default: every *.yaml in {AUTOMATIONS_DIR}")
    args = parser.parse_args(argv)
    if args.gpu_slots < 1:
        parser.error("--gpu-slots must be at least 1")
    from prefect.client.orchestration import get_client

    try:
        automations = [load_automation(p) for p in (args.automation or sorted(AUTOMATIONS_DIR.glob("*.yaml")))]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with get_client(sync_client=True) as client:
        print(ensure_concurrency_limit(client, args.gpu_limit, args.gpu_slots))
        for automation in automations:
            print(ensure_automation(client, automation))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
