#!/bin/sh
# Registers this project's Prefect deployments on the stack's server, with the stack's
# endpoints as their parameters. Run by the `prefect-deploy` one-shot service of
# docker-compose.yml (from /opt/mlops, the image's checkout) and by `scripts/stack.sh up`
# (from this checkout); the workers run the flows from that folder.
#
# Needs: PREFECT_API_URL; MLOPS_PIPELINE_CONFIG, MLOPS_MODEL_REF, MLFLOW_BUCKET,
# MLOPS_BACKUP_BUCKET (plain names, no secrets: credentials stay in the workers' environment).
# Where the stack's parts are (compose's host names by default; stack.sh sets its own):
#   MLOPS_STACK_MLFLOW_URI  the MLflow server               (http://mlflow:5000)
#   MLOPS_STACK_SERVING     serving.* overrides, space-separated
#                           (vLLM attached, the benchmark through the gateway: serving.mode=attached
#                           serving.base_url=http://vllm:8000 serving.gateway_url=http://gateway:8080)
#   MLOPS_PREFECT_CLI       the prefect command (prefect); tests record the calls with it
#   MLOPS_SAFEGUARDS_PYTHON the python that installs the safeguards (python); the same
set -eu
cd "$(dirname "$0")/.."
PREFECT="${MLOPS_PREFECT_CLI:-prefect}"
FILE=deployments/prefect.yaml
MLFLOW_URI="${MLOPS_STACK_MLFLOW_URI:-http://mlflow:5000}"
SERVING="${MLOPS_STACK_SERVING:-serving.mode=attached serving.base_url=http://vllm:8000 serving.gateway_url=http://gateway:8080}"

$PREFECT work-pool create mlops-local --type process --overwrite
# Every deployment with prefect.yaml's defaults (schedules included) ...
$PREFECT --no-prompt deploy --all --prefect-file "$FILE"

# ... then the ones whose defaults point at local services get the stack's instead: the MLflow
# server with S3 artifacts, the stack's vLLM, backups to the stack's S3. The flows apply
# `site_overrides` before a run's own `overrides`, so `--param overrides=...` keeps them.
# shellcheck disable=SC2086  # SERVING is a list of words
set -- "mlflow.tracking_uri=${MLFLOW_URI}" "mlflow.artifact_location=s3://${MLFLOW_BUCKET}/artifacts" $SERVING
OVERRIDES=$(python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
$PREFECT --no-prompt deploy --prefect-file "$FILE" --name nightly \
  --params "{\"config_path\": \"${MLOPS_PIPELINE_CONFIG}\", \"site_overrides\": ${OVERRIDES}}"
# The on-demand form starts at the stack config's benchmark values (flows/form_defaults.py);
# its parameters are {"request": ..., "site_overrides": [...]}.
REQUEST=$(python -m flows.form_defaults "${MLOPS_PIPELINE_CONFIG}" "$@" --model-ref "${MLOPS_MODEL_REF}")
$PREFECT --no-prompt deploy --prefect-file "$FILE" --name on-demand --params "${REQUEST}"
$PREFECT --no-prompt deploy --prefect-file "$FILE" --name daily \
  --params "{\"retention\": {\"retention_days\": 7, \"destination\": \"s3://${MLOPS_BACKUP_BUCKET}/logs\", \"s3_addressing_style\": \"path\"}}"
echo "registered: training-pipeline/nightly, benchmark/on-demand, gpu-sampling/every-15-minutes, log-retention/daily"
${MLOPS_SAFEGUARDS_PYTHON:-python} -m flows.safeguards   # idempotent: the 'gpu' concurrency limit (1 slot) + deployments/automations/ (crash-zombie-flow-runs)
