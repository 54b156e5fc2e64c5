#!/bin/sh
# Registers this project's Prefect deployments on the compose stack's server, with the stack's
# endpoints as their parameters. The `prefect-deploy` one-shot service of docker-compose.yml
# runs it from /opt/mlops (the image's checkout), so the worker runs the flows from there too.
#
# Needs: PREFECT_API_URL; MLOPS_PIPELINE_CONFIG, MLOPS_MODEL_REF, MLFLOW_BUCKET,
# MLOPS_BACKUP_BUCKET (plain names, no secrets: credentials stay in the worker's environment).
set -eu
cd "$(dirname "$0")/.."
FILE=deployments/prefect.yaml

prefect work-pool create mlops-local --type process --overwrite
# Every deployment with prefect.yaml's defaults (schedules included) ...
prefect --no-prompt deploy --all --prefect-file "$FILE"

# ... then the ones whose defaults point at local services get the stack's instead:
# MLflow server + MinIO artifacts, vLLM attached (the `vllm` service), backups to MinIO.
OVERRIDES="[\"mlflow.tracking_uri=http://mlflow:5000\", \"mlflow.artifact_location=s3://${MLFLOW_BUCKET}/artifacts\", \"serving.mode=attached\", \"serving.base_url=http://vllm:8000\"]"
prefect --no-prompt deploy --prefect-file "$FILE" --name nightly \
  --params "{\"config_path\": \"${MLOPS_PIPELINE_CONFIG}\", \"overrides\": ${OVERRIDES}}"
# The on-demand form starts at the stack config's benchmark values (flows/form_defaults.py).
REQUEST=$(python -m flows.form_defaults "${MLOPS_PIPELINE_CONFIG}" "mlflow.tracking_uri=http://mlflow:5000" \
  "mlflow.artifact_location=s3://${MLFLOW_BUCKET}/artifacts" "serving.mode=attached" "serving.base_url=http://vllm:8000" \
  --model-ref "${MLOPS_MODEL_REF}")
prefect --no-prompt deploy --prefect-file "$FILE" --name on-demand --params "${REQUEST}"
prefect --no-prompt deploy --prefect-file "$FILE" --name daily \
  --params "{\"retention\": {\"retention_days\": 7, \"destination\": \"s3://${MLOPS_BACKUP_BUCKET}/logs\", \"s3_addressing_style\": \"path\"}}"
echo "registered: training-pipeline/nightly, benchmark/on-demand, gpu-sampling/every-15-minutes, log-retention/daily"
python -m flows.safeguards   # idempotent: the 'gpu' concurrency limit (1 slot) + deployments/automations/ (crash-zombie-flow-runs)
