#!/usr/bin/env bash
# The production profile on this machine, without Docker: the services of
# deployments/docker-compose.yml as local processes (docs/deployments.md, "One machine, the full
# stack without Docker").
#   scripts/stack.sh up        start (idempotent): Postgres, S3, Prefect server, MLflow server,
#                              gateway, deployments, 2 Prefect workers; each health-checked
#   scripts/stack.sh status    what runs where (exit 1 unless all healthy)
#   scripts/stack.sh env       export lines for your shell: eval "$(scripts/stack.sh env)"
#   scripts/stack.sh down      stop everything (--volumes also deletes the Postgres data)
# Settings: the compose file's variables from the environment (POSTGRES_PASSWORD, AWS_*, ...);
# secrets not set are generated into .stack/stack.env. Logs: logs/<service>/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${1:-}" = up ]; then
  bash scripts/setup.sh --vllm --stack
fi
if [ ! -x .venv/bin/mlops ]; then
  echo "stack.sh: no .venv here; run 'bash scripts/setup.sh --stack' first" >&2
  exit 1
fi
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true VLLM_NO_USAGE_STATS=1
exec .venv/bin/mlops stack "$@"
