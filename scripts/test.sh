#!/usr/bin/env bash
# Sets up the environments and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --vllm --browser --stack
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true VLLM_NO_USAGE_STATS=1
exec .venv/bin/python -m pytest "$@"
