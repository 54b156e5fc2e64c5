#!/usr/bin/env bash
# Sets up the environments and runs the main job on the embedded default.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --vllm
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true VLLM_NO_USAGE_STATS=1
exec .venv/bin/mlops pipeline "$@"
